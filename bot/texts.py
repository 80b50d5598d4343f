"""Every user-facing text, in Chinese and English. Code refers to texts by key only."""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache
from typing import Any, Literal

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")

ROLE_NAMES: dict[Lang, dict[str, str]] = {
    "zh": {
        "secretary": "书记",
        "deputy_secretary": "副书记",
        "organizer": "组织委员",
        "propaganda": "宣传委员",
        "discipline": "纪检委员",
        "group_leader": "党小组长",
        "member": "党员",
        "probationary": "预备党员",
        "activist": "入党积极分子",
    },
    "en": {
        "secretary": "secretary",
        "deputy_secretary": "deputy secretary",
        "organizer": "organisation officer",
        "propaganda": "publicity officer",
        "discipline": "discipline officer",
        "group_leader": "Party group leader",
        "member": "full member",
        "probationary": "probationary member",
        "activist": "activist",
    },
}

ZH: dict[str, str] = {
    # roster import
    "roster.not_xlsx": "文件不是有效的 Excel 工作簿（.xlsx）。",
    "roster.missing_sheets": "工作簿需要“组织”和“党员”两个工作表（现有：{found}）。",
    "roster.bad_encoding": "无法识别 CSV 文件的编码，请另存为 UTF-8 或 GBK 编码。",
    "roster.not_csv": "文件不是有效的 CSV 表格。",
    "roster.missing_column": "缺少列 {column}",
    "roster.required": "不能为空",
    "roster.bad_code": "编码“{value}”无效：只能用字母、数字、汉字、点、短横线和下划线，最长 60 个字符",
    "roster.duplicate_code": "组织编码“{value}”与第 {first} 行重复",
    "roster.too_long": "为空、超过 {limit} 个字符或含有控制字符",
    "roster.bad_kind": "组织类型“{value}”无效，可填：工委、党委、党组、党总支、党支部",
    "roster.bad_timezone": "时区“{value}”无效，例如 Asia/Shanghai",
    "roster.unknown_parent": "上级组织“{value}”既不在本文件中，也未导入过",
    "roster.parent_is_branch": "上级组织“{value}”是党支部或党小组；党小组由党员表的“党小组”列生成",
    "roster.parent_cycle": "上级组织“{value}”形成了循环",
    "roster.unknown_org": "组织“{value}”既不在本文件中，也未导入过",
    "roster.not_branch": "组织“{value}”不是党支部，党员只能属于党支部",
    "roster.duplicate_member_code": "党员编号“{value}”与第 {first} 行重复",
    "roster.duplicate_name": "本支部第 {first} 行已有同名党员“{value}”，两人都没有党员编号，请填写党员编号区分",
    "roster.bad_phone": "手机号“{value}”无效：应为 5–15 位数字，可带 +",
    "roster.bad_role": (
        "职务“{value}”无效，可填：书记、副书记、组织委员、宣传委员、纪检委员、党小组长、"
        "党员、预备党员、入党积极分子（留空即党员）"
    ),
    "roster.date_range": "入党日期“{value}”应在 1921-07-01 与今天之间",
    "roster.bad_date": "入党日期“{value}”无法识别，可填 YYYY-MM-DD、YYYY/M/D 或 Excel 日期",
    "roster.bad_group": "党小组名称不超过 {limit} 个字符，且不能含“/”",
    "roster.leader_needs_group": "党小组长须填写所在党小组",
    "roster.out_of_scope": "组织“{value}”不在您管理的范围内",
    "roster.problem_cell": "[{sheet}] 第 {row} 行，{column} 列（{header}）：{message}",
    "roster.problem_row": "[{sheet}] 第 {row} 行：{message}",
    "roster.problem_sheet": "[{sheet}] {message}",
    "roster.more": "……另有 {count} 处错误未列出",
    "roster.rejected": "名册未导入，发现 {count} 处错误，数据库未作任何改动：",
    "roster.summary": (
        "组织：新增 {orgs_created}，更新 {orgs_updated}，未变 {orgs_unchanged}；"
        "党小组：新增 {groups_created}；"
        "党员：新增 {members_created}，更新 {members_updated}，未变 {members_unchanged}，"
        "停用 {members_deactivated}"
    ),
    "roster.imported": "名册已导入。",
    "roster.dry_run": "校验通过（试运行，未写入任何数据）。",
    "roster.nothing_changed": "没有任何变化。",
    "roster.template_written": "模板已写入 {path}",
    # common
    "common.error": "抱歉，处理时出错了。已记录此问题，请稍后再试。",
    "common.error_admin": "zhibu 出错：{error}（{where}），详情见日志。",
    "common.private_only": "这个命令涉及个人信息，请在与我的私聊中使用。",
    "common.open_private": "打开私聊",
    "common.button_invalid": "这个按钮无效或已过期。",
    "common.not_allowed": "您没有权限进行此操作。",
    "common.not_your_button": "这个按钮只能由发起人操作。",
    "common.managers_only": "只有本支部的书记、副书记、组织委员（或上级党组织管理员）可以使用此命令。",
    "common.cancelled": "已取消。",
    "common.nothing_to_cancel": "当前没有进行中的操作。",
    "common.timed_out": "15 分钟没有操作，本次对话已自动结束。需要时请重新开始。",
    # home
    "home.member": "<b>{name}</b>，您好！\n所属：{org} · {role}",
    "home.no_tasks": "当前没有待办事项。",
    "home.upcoming": "<b>近期截止</b>（/due 查看全部）",
    "home.admin": "您好！您是以下党组织的管理员：{orgs}。",
    "home.all_orgs": "全部党组织",
    "home.unlinked": (
        "您好！我是支部工作助手。\n您的 Telegram 账号还没有绑定党员身份。"
        "请向所在支部的书记索取个人邀请链接，或通过支部入群链接提出申请。"
    ),
    "home.help_hint": "发送 /help 查看您可以使用的命令。",
    # help
    "help.title": "<b>可用命令</b>",
    "help.import_hint": "导入名册：把名册工作簿（.xlsx，含“组织”“党员”两个工作表）或两个 CSV 文件发给我。",
    "help.unlinked_hint": "绑定党员身份后可使用更多命令。",
    "cmd.start": "主页：我的支部和待办",
    "cmd.help": "可用命令",
    "cmd.invite": "邀请成员绑定账号（个人链接、二维码、入群链接）",
    "cmd.roster": "支部名册与绑定情况",
    "cmd.bind": "把本群绑定为支部群",
    "cmd.unbind": "解除本群与支部的绑定",
    "cmd.lang": "界面语言：中文 / English",
    "cmd.cancel": "退出当前对话",
    # language
    "lang.choose": "请选择界面语言：",
    "lang.set": "界面语言已设为中文。",
    # linking
    "link.malformed": "链接格式不正确。请完整复制书记发给您的链接，或请书记重新发送。",
    "link.unknown": "这个邀请链接无效。请向书记索取新的链接。",
    "link.used": "这个邀请链接已经被使用过了，每个链接只能用一次。如需帮助请联系书记。",
    "link.expired": "这个邀请链接已过期。请向书记索取新的链接。",
    "link.member_linked": "{name} 已经绑定了另一个 Telegram 账号。如有疑问请联系书记。",
    "link.member_inactive": "{name} 已不在本支部名册中，无法绑定。",
    "link.account_linked": "您的账号已经绑定为 {name}，不能再绑定其他成员。如需更换请联系书记。",
    "link.confirm": "您的 Telegram 账号将绑定为：\n<b>{name}</b>（{org} · {role}）\n\n确认是本人吗？",
    "link.yes": "✅ 是我，确认绑定",
    "link.no": "取消",
    "link.cancelled": "已取消，未做任何绑定。",
    "link.done": "绑定成功！您是 <b>{name}</b>（{org} · {role}）。\n发送 /help 查看可用命令。",
    # join by branch link
    "join.ask_name": "您正在申请加入 <b>{org}</b>。\n请输入您在支部名册中的姓名（发送 /cancel 退出）：",
    "join.bad_name": "姓名应为 1–{limit} 个字，不含特殊字符。请重新输入：",
    "join.no_match": "{org} 的名册中没有未绑定的“{name}”。请核对姓名后重新输入，或发送 /cancel 退出。",
    "join.already_pending": "您已提交过申请，请等待支部审批。",
    "join.submitted": "申请已提交，{org} 的书记审批后会通知您。",
    "join.request": "<b>入支部申请</b>\n{org}：{account} 申请绑定为“{name}”。\n请核实后处理：",
    "join.approve_as": "✅ 批准：{name}（{code}）",
    "join.reject": "❌ 拒绝",
    "join.approved_by_you": "已批准，该账号已绑定为 {name}。",
    "join.rejected_by_you": "已拒绝“{name}”的申请。",
    "join.rejected": "您加入 {org} 的申请未获批准。如有疑问请联系书记。",
    "join.already_decided": "这个申请已经处理过了。",
    "join.member_gone": "该成员已绑定其他账号或已不在名册中，无法批准。",
    "join.account_linked": "申请人的账号已经绑定了其他成员，申请已自动关闭。",
    # invite
    "invite.need_code": "请指定支部编码，例如：/{command} JG01",
    "invite.no_such_branch": "没有编码为“{code}”的党支部。",
    "invite.title": "<b>{org} · 未绑定成员 {count} 人</b>（第 {page}/{pages} 页）\n请把各自的个人链接发给本人：",
    "invite.all_linked": "全部成员都已绑定。",
    "invite.footer": "每个链接仅限本人使用一次，{days} 天内有效；再次打开 /invite 会生成新链接。",
    "invite.qr": "二维码·{name}",
    "invite.join_link": "🔗 支部入群链接",
    "invite.already_linked": "{name} 已绑定账号，无需邀请。",
    "invite.qr_caption": "{name} 的个人邀请二维码\n{link}\n仅限本人使用一次，{days} 天内有效。",
    "invite.join_caption": (
        "{org} 的入支部链接\n{link}\n可发到支部群。打开后需输入姓名，经书记批准才会绑定；{days} 天内有效。"
    ),
    # roster (chat)
    "roster.title": "<b>{org} 名册</b>：在册 {count} 人，已绑定 {linked} 人（第 {page}/{pages} 页）",
    "roster.linked": "✅ 已绑定",
    "roster.unlinked": "未绑定",
    "roster.blocked": "⚠️ 已屏蔽机器人",
    "roster.inactive": "已停用",
    # groups
    "bind.group_only": "请在支部的 Telegram 群里使用这个命令。",
    "bind.managers_only": "只有支部书记、副书记、组织委员可以绑定或解绑支部群。",
    "bind.confirm": "把本群绑定为 <b>{org}</b> 的支部群吗？\n绑定后，会议通知、统计等支部消息会发到本群。",
    "bind.yes": "✅ 确认绑定",
    "bind.no": "取消",
    "bind.cancelled": "已取消绑定。",
    "bind.bound": "本群已绑定为 <b>{org}</b> 的支部群。",
    "bind.moved": "本群已绑定为 <b>{org}</b> 的支部群，原来绑定的群不再接收支部消息。",
    "bind.already": "本群已经是 <b>{org}</b> 的支部群。",
    "bind.taken": "本群已绑定给 <b>{other}</b>，请先由该支部在本群使用 /unbind 解绑。",
    "unbind.not_bound": "本群没有绑定任何支部。",
    "unbind.done": "已解除本群与 <b>{org}</b> 的绑定，支部消息不再发到本群。",
    # roster upload
    "import.admins_only": "只有党组织管理员可以导入名册。",
    "import.too_large": "文件太大：名册文件不能超过 {mb} MB。",
    "import.bad_type": "请发送 .xlsx 工作簿，或两个 .csv 文件（组织表和党员表）。",
    "import.csv_unknown": "无法识别这个 CSV：表头应包含“组织类型”（组织表）或“姓名”（党员表）。",
    "import.csv_need_members": "已收到组织表，请在 15 分钟内发送党员表 CSV。",
    "import.csv_need_orgs": "已收到党员表，请在 15 分钟内发送组织表 CSV。",
    # reminders
    "remind.reminder": "【提醒】{org}：{obligation}（{period}）尚未完成（{count}/{required}），最后一个工作日是 {last_workday}。",
    "remind.escalation": "【逾期】{org}：{obligation}（{period}）已于{deadline}截止，仍未完成（{count}/{required}），请尽快补上。",
    "remind.oversight": "【督促】{org}：{obligation}（{period}）已于{deadline}截止，逾期仍未完成（{count}/{required}），请督促落实。",
    "remind.birthday": "【政治生日】{name}同志：今天是您入党 {years} 周年的政治生日。不忘初心，牢记使命！",
    # statuses and tables
    "status.done": "已完成",
    "status.open": "进行中",
    "status.overdue": "已逾期",
    "status.missed": "未完成",
    "status.not_applicable": "不适用",
    "status.late": "（{n} 条补记）",
    "table.obligation": "工作要求",
    "table.owner": "组织/成员",
    "table.period": "周期",
    "table.last_workday": "最后工作日",
    "table.status": "状态",
    "table.progress": "完成/要求",
    "table.calendar_title": "{org}（{code}）{year} 年工作日历",
    "cli.nothing_planned": "{at} 没有要发送的提醒。",
    # holidays
    "holidays.bad_line": "每行应为“日期 类型 [名称]”，例如 2027-02-06..2027-02-12 holiday 春节",
    "holidays.bad_kind": "类型“{value}”无效，可填 holiday（放假）或 workday（调休上班）",
    "holidays.bad_date": "日期“{value}”无效，应为 YYYY-MM-DD 或 YYYY-MM-DD..YYYY-MM-DD",
    "holidays.bad_range": "日期范围“{value}”无效：结束不能早于开始，且不超过 31 天",
    "holidays.workday_on_weekday": "{value} 本来就是工作日，调休上班日只能是周六或周日",
    "holidays.conflict": "{value} 与第 {line} 行矛盾（既放假又上班）",
    "holidays.empty": "文件中没有任何日期",
    "holidays.problem": "第 {line} 行：{message}",
    "holidays.not_utf8": "文件不是 UTF-8 编码的文本。",
    "holidays.imported": "{year} 年已导入：放假 {holidays} 天，调休上班 {workdays} 天。",
    "holidays.source_imported": "{year} 年：运维导入的数据（{file}）",
    "holidays.source_package": "{year} 年：chinese-calendar 内置的国务院安排",
    "holidays.source_fallback": "{year} 年：没有官方数据，按周一至周五减法定节假日推算（无调休）。请用 zhibu holidays import 导入国务院通知。",
    "holidays.workday": "调休上班",
    "holidays.day_off": "放假",
    "holidays.fallback_notice": (
        "⚠️ 系统还没有 {year} 年的国务院节假日安排，暂按“周一至周五减法定节假日”推算工作日（不含调休）。"
        "请运维人员用 zhibu holidays import 导入正式安排。"
    ),
    # calendar and due
    "calendar.title": "<b>{org} · 工作日历</b>（今天 {today}）",
    "calendar.month": "本月",
    "calendar.quarter": "本季度",
    "calendar.half": "本半年",
    "calendar.year": "本年度",
    "calendar.planned": "计划 {day}",
    "calendar.last_workday": "最后工作日 {day}",
    "calendar.late": "{n} 条为补记",
    "calendar.to_file": "📝 会议已召开，需在 {day} 前补交会议记录",
    "calendar.members_done": "📝 {name}：{done}/{total} 人已完成 · 最后工作日 {day}",
    "calendar.nothing": "当前周期没有工作要求。",
    "calendar.legend": "✅ 已完成　⏳ 进行中　⚠️ 已逾期　❌ 未完成　➖ 不适用",
    "calendar.group_not_bound": "本群还没有绑定支部。请支部书记在群里发送 /bind。",
    "calendar.unlinked": "您的账号还没有绑定党员身份，请先通过书记发来的邀请链接绑定。",
    "due.title": "<b>{org} · 未来 {days} 天的截止事项</b>",
    "due.nothing": "未来 30 天没有待完成的事项。",
    "due.more": "……另有 {n} 项",
    # settings
    "settings.title": "<b>{org} · 工作要求设置</b>",
    "settings.hint": "点按一项可查看依据，停用或重新开启。",
    "settings.off_because": "已停用：{reason}",
    "settings.on": "开启",
    "settings.once": "一次性，截止 {day}",
    "settings.coverage": "全覆盖（支委两两之间、支委与每名党员）",
    "settings.per_month": "每月 {n} 次",
    "settings.per_quarter": "每季度 {n} 次",
    "settings.per_half": "每半年 {n} 次",
    "settings.per_year": "每年 {n} 次",
    "settings.theme_unset": "📅 主题党日：未固定日期",
    "settings.checkin_button": "✅ 签到方式：点按钮签到",
    "settings.checkin_code": "🔢 签到方式：输入会场公布的 6 位签到码",
    "settings.bad_checkin_mode": "签到方式只能是按钮或签到码。",
    "settings.checkin_toggle": "🔁 切换签到方式",
    "settings.theme_set": "📅 主题党日：{rule}（遇节假日顺延）",
    "settings.theme_button": "📅 主题党日固定日",
    "settings.detail": "<b>{name}</b>\n依据：{source}\n要求：{often}\n状态：{state}",
    "settings.turn_off": "停用",
    "settings.turn_on": "重新开启",
    "settings.back": "‹ 返回",
    "settings.theme_clear": "不再固定日期",
    "settings.theme_ask": (
        "{current}\n\n请发送新的固定日，例如：15、每月15日、第一个周五、最后一个周五。"
        "遇节假日自动顺延到下一个工作日。发送 /cancel 取消。"
    ),
    "settings.theme_cleared": "已取消固定日期",
    "settings.theme_bad": "无法识别“{value}”。可以发送：15（每月15日）、第一个周五、最后一个周五。请重新发送，或 /cancel 取消。",
    "settings.theme_saved": "主题党日已固定为{rule}，遇节假日顺延。",
    "settings.reason_ask": "请发送停用“{name}”的原因（{min}–{max} 字），将记入审计日志。发送 /cancel 取消。",
    "settings.reason_length": "原因需 {min}–{max} 字，您发送了 {count} 字。请重新发送，或 /cancel 取消。",
    "settings.turned_on": "已重新开启 {name}",
    "settings.turned_off": "已停用 {name}，原因已记录。",
    "settings.stale": "这个按钮已过期，已刷新为最新状态。",
    "settings.unknown_obligation": "本组织没有“{code}”这项工作要求。",
    "settings.bad_period": "周期只能是每月、每季度、每半年或每年。",
    "settings.bad_min": "次数应为 1–50。",
    "settings.coverage_min": "谈心谈话按覆盖情况计算，不能设置次数。",
    "settings.bad_title": "名称应为 1–{max} 个字。",
    "settings.once_needs_date": "一次性的工作要求需要截止日期；按周期的不需要。",
    "records.no_obligation": "记录至少要对应一项工作要求。",
    "cmd.calendar": "本支部本月、本季度、本年度的工作要求",
    "cmd.due": "未来 30 天的截止事项",
    "cmd.settings": "支部设置：工作要求开关、主题党日",
    "cmd.meet": "安排会议",
    "cmd.checkin": "签到当前会议（签到码模式：/checkin 签到码）",
    "cmd.leave": "为即将召开的会议请假",
    # digests
    "digest.title": "<b>【每日提醒】{org} · {day}</b>",
    "digest.overdue": "⚠️ 已逾期：",
    "digest.soon": "⏳ 10 个工作日内到期：",
    "digest.line": "· {name}（{period}）{count}/{required}，最后工作日 {day}",
    "digest.birthdays": "🎂 今天政治生日：{names}",
    "digest.birthday_one": "{name}（入党 {years} 周年）",
    "digest.committee_title": "<b>【每周督办】{day}</b>：{n} 个支部有逾期事项",
    "digest.committee_line": "· {org}：逾期 {n} 项（{names}）",
    # outbox
    "outbox.counts": "待发送 {pending}，发送中 {sending}，已发送 {sent}，失败 {failed}，已跳过 {skipped}",
    "outbox.failures": "最近的失败：",
    "outbox.none_failed": "没有失败的消息。",
    # meetings
    "card.when": "时间：{when}",
    "card.place": "地点：{place}",
    "card.topic": "议题：{topic}",
    "card.counts": "应到 {expected} · 已签到 {present} · 请假 {leave}",
    "card.cancelled": "❌ 会议已取消",
    "card.mine_none": "您还没有签到或请假。",
    "card.mine_present": "✅ 您已签到。",
    "card.mine_leave": "📝 您已请假。",
    "card.checkin": "✅ 签到",
    "card.leave": "📝 请假",
    "tally.title": "<b>{name} · {when} 签到统计</b>",
    "tally.counts": "应到 {expected} 人，实到 {present} 人，请假 {leave} 人，缺席 {absent} 人",
    "tally.present": "实到：{names}",
    "tally.leave": "请假：{names}",
    "tally.absent": "缺席：{names}",
    "tally.proxy": "（代签）",
    "tally.quorum_met": "有表决权的 {base} 人中到会 {present} 人，超过半数，会议有效。",
    "tally.quorum_failed": "⚠️ 有表决权的 {base} 人中只到会 {present} 人，未超过半数，本次会议不计入工作要求。",
    "meet.record_due": "【补交记录】{name}（{when}）已召开，会议记录今天到期，请尽快提交。",
    "meet.reminder": "【会议提醒】{name}：{when}，地点：{place}。请按时参加，或在会前请假。",
    "meet.past": "会议时间已过，请选择将来的时间。",
    "meet.too_far": "会议时间不能超过 {days} 天以后。",
    "meet.bad_place": "地点应为 1–{limit} 个字（您输入了 {count} 个字）。请重新输入：",
    "meet.bad_topic": "议题应为 1–{limit} 个字（您输入了 {count} 个字）。请重新输入，或点“跳过”：",
    "meet.choose_type": "<b>安排会议</b>\n请选择会议类型：",
    "meet.other": "其他会议",
    "meet.choose_group": "请选择党小组：",
    "meet.ask_when": "请选择日期，或直接输入时间，例如：12-3 15:00、12月3日 15:00、明天 15:00、周五 9:30。",
    "meet.ask_time": "日期：{day}。请选择或输入开始时间（如 15:00）：",
    "meet.bad_when": "无法识别“{value}”。可以输入：2026-12-03 15:00、12-3 15:00、12月3日 15:00、明天 15:00、后天 9:30、周五 9:30。请重新输入：",
    "meet.bad_time": "无法识别“{value}”，请输入如 15:00 的时间：",
    "meet.ask_place": "请输入地点（最多 100 字），或点“线上”：",
    "meet.online": "线上",
    "meet.ask_topic": "请输入议题（可选，最多 200 字），或点“跳过”：",
    "meet.skip": "跳过",
    "meet.ask_also": "这次会议还同时完成哪些工作要求？（可多选，合并召开、分别记录）",
    "meet.done_choosing": "完成",
    "meet.confirm": "<b>请确认</b>\n{summary}\n\n同时完成：{also}",
    "meet.also_none": "无",
    "meet.yes": "✅ 确认安排",
    "meet.no": "取消",
    "meet.created": "会议已安排，已通知 {n} 名应到人员{group}。",
    "meet.created_group": "，并发到支部群",
    "meet.expired": "这个安排会议的对话已结束，请重新发送 /meet。",
    "meet.proxy": "代签 / 补签",
    "meet.change_when": "改时间",
    "meet.change_place": "改地点",
    "meet.changed": "已修改，已通知应到人员。",
    "meet.changed_notice": "【会议变更】{name}\n{card}",
    "meet.not_changeable": "会议已开始、已结束或已取消，不能再修改。",
    "meet.cancel_meeting": "取消会议",
    "meet.cancelled": "会议已取消，已通知应到人员。",
    "meet.cancelled_notice": "【会议取消】{name}（{when}）已取消。",
    "meet.proxy_title": "点姓名为其代签（{name}，{when}）：",
    "meet.proxy_none": "应到人员都已签到或请假。",
    "meet.proxy_done": "已为 {name} 代签",
    "checkin.ok": "签到成功",
    "checkin.already": "您已经签到过了",
    "checkin.not_expected": "您不在这次会议的应到名单中",
    "checkin.cancelled": "这次会议已取消",
    "checkin.too_early": "还没到签到时间：会前 30 分钟开始签到",
    "checkin.too_late": "签到已结束（会议开始后 2 小时内可签到）",
    "checkin.need_code": "这次会议用签到码签到：请发送会场公布的 6 位签到码（或 /checkin 签到码）",
    "checkin.wrong_code": "签到码不对，请核对后再发送",
    "checkin.locked": "签到码错误次数过多，请 10 分钟后再试",
    "checkin.none": "现在没有您可以签到的会议。",
    "leave.ask": "请发送请假原因（{min}–{max} 字），发送 /cancel 取消：",
    "leave.reason_length": "请假原因需 {min}–{max} 字，您发送了 {count} 字。请重新发送：",
    "leave.ok": "已请假。{makeup}",
    "leave.makeup": "请在会后 5 个工作日内提交补学心得。",
    "leave.already": "已更新请假原因。",
    "leave.started": "会议已经开始，不能再请假",
    "leave.present": "您已签到，无需请假",
    "leave.none": "近期没有您需要参加的会议。",
    "leave.choose": "请选择要请假的会议：",
    "leave.notice": "【请假】{name} 请假：{meeting}（{when}），原因：{reason}",
}

EN: dict[str, str] = {
    "roster.not_xlsx": "The file is not a valid Excel workbook (.xlsx).",
    "roster.missing_sheets": "The workbook needs the sheets 组织 and 党员 (found: {found}).",
    "roster.bad_encoding": "The CSV file's encoding is not recognised; save it as UTF-8 or GBK.",
    "roster.not_csv": "The file is not a valid CSV table.",
    "roster.missing_column": "missing column {column}",
    "roster.required": "must not be empty",
    "roster.bad_code": (
        "code “{value}” is invalid: use letters, digits, Chinese characters, dot, dash and "
        "underscore, at most 60 characters"
    ),
    "roster.duplicate_code": "org code “{value}” repeats row {first}",
    "roster.too_long": "empty, longer than {limit} characters, or has control characters",
    "roster.bad_kind": "kind “{value}” is invalid; accepted: 工委, 党委, 党组, 党总支, 党支部 "
    "or working_committee, committee, general_branch, branch",
    "roster.bad_timezone": "time zone “{value}” is invalid, e.g. Asia/Shanghai",
    "roster.unknown_parent": "parent org “{value}” is neither in this file nor imported before",
    "roster.parent_is_branch": (
        "parent org “{value}” is a branch or Party group; Party groups come from the members' "
        "党小组 column"
    ),
    "roster.parent_cycle": "parent org “{value}” makes a cycle",
    "roster.unknown_org": "org “{value}” is neither in this file nor imported before",
    "roster.not_branch": "org “{value}” is not a branch; members belong to branches",
    "roster.duplicate_member_code": "member code “{value}” repeats row {first}",
    "roster.duplicate_name": (
        "row {first} of this branch has the same name “{value}” and neither has a member "
        "code; add member codes to tell them apart"
    ),
    "roster.bad_phone": "phone “{value}” is invalid: 5–15 digits, optionally with +",
    "roster.bad_role": (
        "role “{value}” is invalid; accepted: 书记, 副书记, 组织委员, 宣传委员, 纪检委员, 党小组长, "
        "党员, 预备党员, 入党积极分子 or the English codes (blank means 党员)"
    ),
    "roster.date_range": "joining date “{value}” must lie between 1921-07-01 and today",
    "roster.bad_date": (
        "joining date “{value}” is not recognised; accepted: YYYY-MM-DD, YYYY/M/D or an Excel date"
    ),
    "roster.bad_group": "Party group name must be at most {limit} characters, without “/”",
    "roster.leader_needs_group": "a Party group leader needs a Party group",
    "roster.out_of_scope": "org “{value}” is outside what you administer",
    "roster.problem_cell": "[{sheet}] row {row}, column {column} ({header}): {message}",
    "roster.problem_row": "[{sheet}] row {row}: {message}",
    "roster.problem_sheet": "[{sheet}] {message}",
    "roster.more": "… and {count} more problems not listed",
    "roster.rejected": "Roster not imported: {count} problems found, nothing was changed:",
    "roster.summary": (
        "orgs: {orgs_created} new, {orgs_updated} updated, {orgs_unchanged} unchanged; "
        "Party groups: {groups_created} new; "
        "members: {members_created} new, {members_updated} updated, "
        "{members_unchanged} unchanged, {members_deactivated} deactivated"
    ),
    "roster.imported": "Roster imported.",
    "roster.dry_run": "Validation passed (dry run, nothing written).",
    "roster.nothing_changed": "Nothing changed.",
    "roster.template_written": "Template written to {path}",
    "common.error": "Sorry, something went wrong. It has been logged; please try again later.",
    "common.error_admin": "zhibu error: {error} ({where}); see the log for details.",
    "common.private_only": "This command shows personal information; please use it in a private chat with me.",
    "common.open_private": "Open private chat",
    "common.button_invalid": "This button is invalid or has expired.",
    "common.not_allowed": "You are not allowed to do this.",
    "common.not_your_button": "Only the person who started this can press this button.",
    "common.managers_only": (
        "Only the branch secretary, deputy secretary or organisation officer (or an admin of a "
        "higher Party organisation) can use this command."
    ),
    "common.cancelled": "Cancelled.",
    "common.nothing_to_cancel": "There is nothing to cancel.",
    "common.timed_out": "Nothing happened for 15 minutes, so this conversation has ended. Start again when you need to.",
    "home.member": "Hello, <b>{name}</b>!\nBranch: {org} · {role}",
    "home.no_tasks": "You have nothing to do right now.",
    "home.upcoming": "<b>Coming up</b> (/due for all)",
    "home.admin": "Hello! You administer: {orgs}.",
    "home.all_orgs": "all Party organisations",
    "home.unlinked": (
        "Hello! I am the branch work assistant.\nYour Telegram account is not linked to a Party "
        "member yet. Ask your branch secretary for your personal invite link, or apply through "
        "the branch join link."
    ),
    "home.help_hint": "Send /help to see the commands you can use.",
    "help.title": "<b>Commands</b>",
    "help.import_hint": (
        "Import a roster: send me the workbook (.xlsx with sheets 组织 and 党员) or the two CSV files."
    ),
    "help.unlinked_hint": "More commands become available once your account is linked.",
    "cmd.start": "Home: my branch and tasks",
    "cmd.help": "Commands",
    "cmd.invite": "Invite members to link (links, QR codes, join link)",
    "cmd.roster": "Branch roster and link status",
    "cmd.bind": "Make this group the branch group",
    "cmd.unbind": "Unbind this group from the branch",
    "cmd.lang": "Language: 中文 / English",
    "cmd.cancel": "Leave the current conversation",
    "lang.choose": "Choose your language:",
    "lang.set": "Language set to English.",
    "link.malformed": "This link is malformed. Copy the whole link your secretary sent, or ask for it again.",
    "link.unknown": "This invite link is not valid. Ask your secretary for a new one.",
    "link.used": "This invite link has already been used; each link works once. Ask your secretary for help.",
    "link.expired": "This invite link has expired. Ask your secretary for a new one.",
    "link.member_linked": "{name} is already linked to another Telegram account. Ask your secretary if this is wrong.",
    "link.member_inactive": "{name} is no longer on the branch roster and cannot be linked.",
    "link.account_linked": "Your account is already linked as {name} and cannot be linked to anyone else. Ask your secretary to change it.",
    "link.confirm": "Your Telegram account will be linked as:\n<b>{name}</b> ({org} · {role})\n\nIs this you?",
    "link.yes": "✅ Yes, link me",
    "link.no": "Cancel",
    "link.cancelled": "Cancelled; nothing was linked.",
    "link.done": "Linked! You are <b>{name}</b> ({org} · {role}).\nSend /help to see your commands.",
    "join.ask_name": "You are applying to join <b>{org}</b>.\nType your name as it appears on the branch roster (/cancel to stop):",
    "join.bad_name": "A name is 1–{limit} characters without special characters. Please type it again:",
    "join.no_match": "The roster of {org} has no unlinked member named “{name}”. Check the name and type it again, or send /cancel.",
    "join.already_pending": "You have already applied; please wait for the branch to decide.",
    "join.submitted": "Your application has been sent. You will hear back once a manager of {org} decides.",
    "join.request": "<b>Join request</b>\n{org}: {account} asks to be linked as “{name}”.\nPlease check and decide:",
    "join.approve_as": "✅ Approve: {name} ({code})",
    "join.reject": "❌ Reject",
    "join.approved_by_you": "Approved; the account is now linked as {name}.",
    "join.rejected_by_you": "Rejected the request from “{name}”.",
    "join.rejected": "Your request to join {org} was not approved. Ask your secretary if you have questions.",
    "join.already_decided": "This request has already been decided.",
    "join.member_gone": "That member is already linked or no longer on the roster; cannot approve.",
    "join.account_linked": "The applicant's account is already linked to another member; the request was closed.",
    "invite.need_code": "Name the branch by its code, e.g. /{command} JG01",
    "invite.no_such_branch": "There is no branch with code “{code}”.",
    "invite.title": "<b>{org} · {count} members not linked</b> (page {page}/{pages})\nSend each person their own link:",
    "invite.all_linked": "Every member is linked.",
    "invite.footer": "Each link works once, for that person only, for {days} days; opening /invite again makes new links.",
    "invite.qr": "QR · {name}",
    "invite.join_link": "🔗 Branch join link",
    "invite.already_linked": "{name} is already linked.",
    "invite.qr_caption": "Personal invite QR code for {name}\n{link}\nWorks once, for that person only, for {days} days.",
    "invite.join_caption": (
        "Join link for {org}\n{link}\nShare it in the branch group. People type their name and a "
        "manager approves; valid for {days} days."
    ),
    "roster.title": "<b>{org} roster</b>: {count} members, {linked} linked (page {page}/{pages})",
    "roster.linked": "✅ linked",
    "roster.unlinked": "not linked",
    "roster.blocked": "⚠️ blocked the bot",
    "roster.inactive": "inactive",
    "bind.group_only": "Use this command in the branch's Telegram group.",
    "bind.managers_only": "Only the branch secretary, deputy secretary or organisation officer can bind or unbind the branch group.",
    "bind.confirm": "Make this group the branch group of <b>{org}</b>?\nMeeting cards, tallies and other branch posts will then go here.",
    "bind.yes": "✅ Bind",
    "bind.no": "Cancel",
    "bind.cancelled": "Binding cancelled.",
    "bind.bound": "This group is now the branch group of <b>{org}</b>.",
    "bind.moved": "This group is now the branch group of <b>{org}</b>; the previously bound group no longer gets branch posts.",
    "bind.already": "This group already is the branch group of <b>{org}</b>.",
    "bind.taken": "This group is bound to <b>{other}</b>; a manager of that branch must /unbind it here first.",
    "unbind.not_bound": "This group is not bound to any branch.",
    "unbind.done": "This group is no longer bound to <b>{org}</b>; branch posts stop coming here.",
    "import.admins_only": "Only Party organisation admins can import the roster.",
    "import.too_large": "The file is too large: a roster file may be at most {mb} MB.",
    "import.bad_type": "Send an .xlsx workbook, or the two .csv files (orgs and members).",
    "import.csv_unknown": "This CSV is not recognised: its header needs 组织类型/kind (orgs) or 姓名/name (members).",
    "import.csv_need_members": "Got the orgs file; send the members CSV within 15 minutes.",
    "import.csv_need_orgs": "Got the members file; send the orgs CSV within 15 minutes.",
    "remind.reminder": "[Reminder] {org}: {obligation} ({period}) is not done yet ({count}/{required}); the last workday is {last_workday}.",
    "remind.escalation": "[Overdue] {org}: {obligation} ({period}) was due {deadline} and is still not done ({count}/{required}). Please catch up soon.",
    "remind.oversight": "[Supervision] {org}: {obligation} ({period}) was due {deadline} and is still overdue ({count}/{required}). Please follow up.",
    "remind.birthday": "[Political birthday] Comrade {name}: today is the {years}th anniversary of the day you joined the Party.",
    "status.done": "done",
    "status.open": "open",
    "status.overdue": "overdue",
    "status.missed": "missed",
    "status.not_applicable": "n/a",
    "status.late": " ({n} late)",
    "table.obligation": "obligation",
    "table.owner": "org/member",
    "table.period": "period",
    "table.last_workday": "last workday",
    "table.status": "status",
    "table.progress": "done/required",
    "table.calendar_title": "{org} ({code}): obligations in {year}",
    "cli.nothing_planned": "Nothing would be sent at {at}.",
    "holidays.bad_line": "each line is “DATE KIND [NAME]”, e.g. 2027-02-06..2027-02-12 holiday 春节",
    "holidays.bad_kind": "kind “{value}” is invalid; use holiday or workday",
    "holidays.bad_date": "date “{value}” is invalid; use YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD",
    "holidays.bad_range": "range “{value}” is invalid: the end may not precede the start, at most 31 days",
    "holidays.workday_on_weekday": "{value} is a workday anyway; make-up workdays fall on Saturdays or Sundays",
    "holidays.conflict": "{value} contradicts line {line} (both a holiday and a workday)",
    "holidays.empty": "the file lists no dates",
    "holidays.problem": "line {line}: {message}",
    "holidays.not_utf8": "The file is not UTF-8 text.",
    "holidays.imported": "{year} imported: {holidays} days off, {workdays} make-up workdays.",
    "holidays.source_imported": "{year}: imported by the operator ({file})",
    "holidays.source_package": "{year}: the State Council schedule built into chinese-calendar",
    "holidays.source_fallback": "{year}: no official data; Monday–Friday minus statutory holidays by rule (no make-up days). Import the State Council notice with zhibu holidays import.",
    "holidays.workday": "make-up workday",
    "holidays.day_off": "day off",
    "holidays.fallback_notice": (
        "⚠️ There is no State Council holiday schedule for {year} yet; workdays are Monday–Friday "
        "minus statutory holidays by rule, without make-up days. Ask the operator to import the "
        "official schedule with zhibu holidays import."
    ),
    "calendar.title": "<b>{org} · obligations</b> (today {today})",
    "calendar.month": "This month",
    "calendar.quarter": "This quarter",
    "calendar.half": "This half-year",
    "calendar.year": "This year",
    "calendar.planned": "planned {day}",
    "calendar.last_workday": "last workday {day}",
    "calendar.late": "{n} filed late",
    "calendar.to_file": "📝 held; the meeting record is due by {day}",
    "calendar.members_done": "📝 {name}: {done}/{total} members done · last workday {day}",
    "calendar.nothing": "Nothing is owed in the current periods.",
    "calendar.legend": "✅ done  ⏳ open  ⚠️ overdue  ❌ missed  ➖ not applicable",
    "calendar.group_not_bound": "This group is not bound to a branch yet. The branch secretary can send /bind here.",
    "calendar.unlinked": "Your account is not linked to a member yet; use the invite link from your secretary first.",
    "due.title": "<b>{org} · due in the next {days} days</b>",
    "due.nothing": "Nothing falls due in the next 30 days.",
    "due.more": "… and {n} more",
    "settings.title": "<b>{org} · obligation settings</b>",
    "settings.hint": "Tap an obligation to see its source, switch it off or on again.",
    "settings.off_because": "off: {reason}",
    "settings.on": "on",
    "settings.once": "once, due {day}",
    "settings.coverage": "full coverage (every committee pair, every member with a committee member)",
    "settings.per_month": "{n} a month",
    "settings.per_quarter": "{n} a quarter",
    "settings.per_half": "{n} a half-year",
    "settings.per_year": "{n} a year",
    "settings.theme_unset": "📅 Theme Party day: no fixed day",
    "settings.checkin_button": "✅ Check-in: by button",
    "settings.checkin_code": "🔢 Check-in: by the 6-digit code shown in the room",
    "settings.bad_checkin_mode": "Check-in is by button or by code.",
    "settings.checkin_toggle": "🔁 Switch check-in mode",
    "settings.theme_set": "📅 Theme Party day: {rule} (moved to the next workday on holidays)",
    "settings.theme_button": "📅 Theme Party day",
    "settings.detail": "<b>{name}</b>\nSource: {source}\nRequired: {often}\nState: {state}",
    "settings.turn_off": "Switch off",
    "settings.turn_on": "Switch on again",
    "settings.back": "‹ Back",
    "settings.theme_clear": "No fixed day",
    "settings.theme_ask": (
        "{current}\n\nSend the new fixed day, e.g. 15, first friday, last friday. A day off moves it "
        "to the next workday. Send /cancel to stop."
    ),
    "settings.theme_cleared": "The fixed day is removed",
    "settings.theme_bad": "“{value}” is not understood. Send e.g. 15 (the 15th of every month), first friday or last friday; or /cancel.",
    "settings.theme_saved": "The theme Party day is now {rule}, moved to the next workday on holidays.",
    "settings.reason_ask": "Send the reason for switching off “{name}” ({min}–{max} characters); it goes into the audit log. /cancel to stop.",
    "settings.reason_length": "The reason needs {min}–{max} characters; you sent {count}. Send it again, or /cancel.",
    "settings.turned_on": "{name} is on again",
    "settings.turned_off": "{name} is switched off; the reason is recorded.",
    "settings.stale": "This button is out of date; here is the current state.",
    "settings.unknown_obligation": "This organisation has no obligation “{code}”.",
    "settings.bad_period": "The period must be a month, quarter, half-year or year.",
    "settings.bad_min": "The count must be 1–50.",
    "settings.coverage_min": "Heart-to-heart talks count by coverage; a count cannot be set.",
    "settings.bad_title": "The title must be 1–{max} characters.",
    "settings.once_needs_date": "A one-off obligation needs a due date; a periodic one does not.",
    "records.no_obligation": "A record must count toward at least one obligation.",
    "cmd.calendar": "This month's, quarter's and year's obligations",
    "cmd.due": "What falls due in the next 30 days",
    "cmd.settings": "Branch settings: obligations on/off, theme Party day",
    "cmd.meet": "Schedule a meeting",
    "cmd.checkin": "Check in to the current meeting (code mode: /checkin CODE)",
    "cmd.leave": "Ask for leave from an upcoming meeting",
    "digest.title": "<b>[Daily] {org} · {day}</b>",
    "digest.overdue": "⚠️ Overdue:",
    "digest.soon": "⏳ Due within 10 workdays:",
    "digest.line": "· {name} ({period}) {count}/{required}, last workday {day}",
    "digest.birthdays": "🎂 Political birthdays today: {names}",
    "digest.birthday_one": "{name} ({years} years)",
    "digest.committee_title": "<b>[Weekly] {day}</b>: {n} branches have overdue items",
    "digest.committee_line": "· {org}: {n} overdue ({names})",
    "outbox.counts": "pending {pending}, sending {sending}, sent {sent}, failed {failed}, skipped {skipped}",
    "outbox.failures": "Last failures:",
    "outbox.none_failed": "No failed messages.",
    "card.when": "When: {when}",
    "card.place": "Where: {place}",
    "card.topic": "Topic: {topic}",
    "card.counts": "expected {expected} · checked in {present} · on leave {leave}",
    "card.cancelled": "❌ This meeting is cancelled",
    "card.mine_none": "You have not checked in or asked for leave yet.",
    "card.mine_present": "✅ You are checked in.",
    "card.mine_leave": "📝 You are on leave.",
    "card.checkin": "✅ Check in",
    "card.leave": "📝 Leave",
    "tally.title": "<b>{name} · {when}: attendance</b>",
    "tally.counts": "expected {expected}, present {present}, on leave {leave}, absent {absent}",
    "tally.present": "Present: {names}",
    "tally.leave": "On leave: {names}",
    "tally.absent": "Absent: {names}",
    "tally.proxy": " (by proxy)",
    "tally.quorum_met": "{present} of {base} voting members present: more than half, the meeting is valid.",
    "tally.quorum_failed": "⚠️ Only {present} of {base} voting members present: not more than half; this meeting does not count.",
    "meet.record_due": "[Record due] {name} ({when}) was held; its record is due today. Please file it.",
    "meet.reminder": "[Meeting] {name}: {when}, at {place}. Please attend, or ask for leave before it starts.",
    "meet.past": "That time has passed; choose a time in the future.",
    "meet.too_far": "A meeting may be at most {days} days ahead.",
    "meet.bad_place": "The place must be 1–{limit} characters (you sent {count}). Type it again:",
    "meet.bad_topic": "The topic must be 1–{limit} characters (you sent {count}). Type it again, or tap Skip:",
    "meet.choose_type": "<b>Schedule a meeting</b>\nChoose the kind:",
    "meet.other": "Other meeting",
    "meet.choose_group": "Choose the Party group:",
    "meet.ask_when": "Choose a day, or type the time, e.g. 12-3 15:00, 12月3日 15:00, 明天 15:00, 周五 9:30.",
    "meet.ask_time": "Day: {day}. Choose or type the start time (e.g. 15:00):",
    "meet.bad_when": "“{value}” is not understood. Accepted: 2026-12-03 15:00, 12-3 15:00, 12月3日 15:00, 明天 15:00, 后天 9:30, 周五 9:30. Type it again:",
    "meet.bad_time": "“{value}” is not understood; type a time like 15:00:",
    "meet.ask_place": "Type the place (at most 100 characters), or tap Online:",
    "meet.online": "Online",
    "meet.ask_topic": "Type the topic (optional, at most 200 characters), or tap Skip:",
    "meet.skip": "Skip",
    "meet.ask_also": "Which other obligations does this session also fulfil? (any number)",
    "meet.done_choosing": "Done",
    "meet.confirm": "<b>Please confirm</b>\n{summary}\n\nAlso fulfils: {also}",
    "meet.also_none": "nothing else",
    "meet.yes": "✅ Schedule it",
    "meet.no": "Cancel",
    "meet.created": "Scheduled; {n} expected attendees were told{group}.",
    "meet.created_group": ", and the branch group",
    "meet.expired": "This scheduling conversation has ended; send /meet again.",
    "meet.proxy": "Sign in for someone",
    "meet.change_when": "Change time",
    "meet.change_place": "Change place",
    "meet.changed": "Changed; the attendees are told.",
    "meet.changed_notice": "[Changed] {name}\n{card}",
    "meet.not_changeable": "The meeting has started, ended or been cancelled; it can no longer be changed.",
    "meet.cancel_meeting": "Cancel the meeting",
    "meet.cancelled": "The meeting is cancelled; the attendees are told.",
    "meet.cancelled_notice": "[Cancelled] {name} ({when}) is cancelled.",
    "meet.proxy_title": "Tap a name to sign them in ({name}, {when}):",
    "meet.proxy_none": "Everyone expected has checked in or is on leave.",
    "meet.proxy_done": "{name} signed in by you",
    "checkin.ok": "Checked in",
    "checkin.already": "You are already checked in",
    "checkin.not_expected": "You are not expected at this meeting",
    "checkin.cancelled": "This meeting is cancelled",
    "checkin.too_early": "Too early: check-in opens 30 minutes before the start",
    "checkin.too_late": "Check-in has closed (it is open until 2 hours after the start)",
    "checkin.need_code": "This meeting uses a check-in code: send the 6-digit code shown in the room (or /checkin CODE)",
    "checkin.wrong_code": "That code is wrong; check it and send it again",
    "checkin.locked": "Too many wrong codes; try again in 10 minutes",
    "checkin.none": "There is no meeting you can check in to now.",
    "leave.ask": "Send the reason for your leave ({min}–{max} characters), or /cancel:",
    "leave.reason_length": "The reason needs {min}–{max} characters; you sent {count}. Send it again:",
    "leave.ok": "You are on leave. {makeup}",
    "leave.makeup": "Please hand in a make-up study note within 5 workdays after the meeting.",
    "leave.already": "Your reason is updated.",
    "leave.started": "The meeting has started; leave can no longer be asked for",
    "leave.present": "You are checked in; no leave needed",
    "leave.none": "There is no upcoming meeting for you.",
    "leave.choose": "Choose the meeting:",
    "leave.notice": "[Leave] {name}: {meeting} ({when}), reason: {reason}",
}

CATALOGUES: dict[Lang, dict[str, str]] = {"zh": ZH, "en": EN}


def t(lang: Lang, key: str, /, **params: Any) -> str:
    """The text for ``key`` in ``lang`` with ``params`` filled in."""
    return CATALOGUES[lang][key].format(**params)


WEEKDAYS: dict[Lang, tuple[str, ...]] = {
    "zh": ("周一", "周二", "周三", "周四", "周五", "周六", "周日"),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@cache
def fmt_date(lang: Lang, day: date) -> str:
    """``9月30日（周三）`` or ``Wed 30 Sep``."""
    if lang == "en":
        return f"{WEEKDAYS['en'][day.weekday()]} {day.day} {MONTHS_EN[day.month - 1]}"
    return f"{day.month}月{day.day}日（{WEEKDAYS['zh'][day.weekday()]}）"


@cache
def period_label(lang: Lang, start: date, end: date) -> str:
    """The period an occurrence covers, as people name it: 2026年第三季度, Q3 2026 …"""
    months = (end.year - start.year) * 12 + end.month - start.month + 1
    whole = start.day == 1 and (end + timedelta(days=1)).day == 1
    if not whole:
        return (
            f"{start.isoformat()}–{end.isoformat()}" if lang == "en" else f"截至 {end.isoformat()}"
        )
    if lang == "en":
        if months == 1:
            return f"{MONTHS_EN[start.month - 1]} {start.year}"
        if months == 3:
            return f"Q{(start.month - 1) // 3 + 1} {start.year}"
        if months == 6:
            return f"H{1 if start.month == 1 else 2} {start.year}"
        return str(start.year) if months == 12 else f"{start.isoformat()}–{end.isoformat()}"
    if months == 1:
        return f"{start.year}年{start.month}月"
    if months == 3:
        return f"{start.year}年第{'一二三四'[(start.month - 1) // 3]}季度"
    if months == 6:
        return f"{start.year}年{'上' if start.month == 1 else '下'}半年"
    return f"{start.year}年度" if months == 12 else f"{start.isoformat()}至{end.isoformat()}"


def role_name(lang: Lang, role: str) -> str:
    return ROLE_NAMES[lang].get(role, role)


def normalise_lang(value: str | None, default: Lang) -> Lang:
    """Map a stored choice or a Telegram language code to one of ours."""
    if not value:
        return default
    value = value.lower()
    if value.startswith("en"):
        return "en"
    if value.startswith("zh"):
        return "zh"
    return default
