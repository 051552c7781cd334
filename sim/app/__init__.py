"""The what-if page: scenarios edited with controls and YAML, run as you watch.

:mod:`sim.app.state` holds the logic (edits, the replication cache, background runs with a
quick first answer, paired comparison with the saved base, files) and needs nothing beyond
revloop; :mod:`sim.app.page` is the page, built with Panel (``pip install "revloop[app]"``)
and started by ``revloop app [SCENARIO]``. In a notebook, ``WhatIfPage(path).view()`` shows
the same page inline.
"""
