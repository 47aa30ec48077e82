"""Polling DHgate: one poll walks forward through these modules, none of them looking back.

``schedule`` (which monitors are due, claims, the poll job's name and id) -> ``engine`` (one
poll: fetch and parse via ``snapshot``, then record) -> ``cards`` (the per-card diff, reading
through ``fastpath``; ``changes`` is the full diff it is checked against; both plan with
``plan``) -> ``sql`` (the bulk writes) -> ``notify`` (notification rows).

Nothing is imported here, so the web can enqueue a poll (``schedule``) without loading the
fetcher and the parsers.
"""
