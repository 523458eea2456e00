"""The operator console in the browser (`conc station web`): app.py builds the Starlette app,
auth.py the login/role/CSRF checks, pages.py and alarm_pages.py the pages and their JSON API,
station_data.py the read queries, live.py the alarm loop, sounds.py and charts.py what the pages
play and draw. docs/console.md describes it."""
