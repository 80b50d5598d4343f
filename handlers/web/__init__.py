"""The Mini App (issue #17): the page, its JSON API and the one HTTP server of ``zhibu run``."""
