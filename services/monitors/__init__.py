"""Monitors: what members watch on DHgate, in three modules by responsibility.

* ``rules``: tiers and poll intervals, cleaning what people type, ``MonitorError``. No database.
* ``queries``: everything the pages, the status API and the CLI read, scoped to the viewer.
* ``commands``: create, edit, pause, delete, "check now", member-wide keywords, DHgate links.

Import from the submodule that holds a name (nothing is re-exported here), so a module's
imports say which of the three it depends on. Words for people live in ``services.labels``,
formatting in ``services.formatting``.
"""
