"""Operator-imported holiday years, stored in the database (``zhibu holidays import``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.rules.workdays import YearData
from bot.store.models import HolidayDay, HolidayYear


async def store_years(
    session: AsyncSession, years: list[YearData], *, source: str, now: datetime
) -> list[int]:
    """Replace each given year wholesale with the imported days."""
    for data in years:
        await session.execute(delete(HolidayDay).where(HolidayDay.year == data.year))
        await session.execute(delete(HolidayYear).where(HolidayYear.year == data.year))
        await session.flush()
        session.add(HolidayYear(year=data.year, source=source[:200], imported_at=now))
        await session.flush()
        for day in sorted(data.holidays | data.workdays):
            kind = "workday" if day in data.workdays else "holiday"
            session.add(HolidayDay(year=data.year, day=day, kind=kind, name=data.names.get(day)))
    await session.flush()
    return [y.year for y in years]


async def imported_years(session: AsyncSession) -> dict[int, str]:
    rows = await session.execute(select(HolidayYear.year, HolidayYear.source))
    return {year: source for year, source in rows}
