"""Power sensors that POST to a webhook (an ESP8266 or anything): one package per behaviour.

Read top-down: ``coordinator`` (one entry's stations; where a reading goes), ``handler``
(the request: method, local-only check, body, answer) with ``http`` (body reading, JSON answers),
``writer`` (group-commit write rounds), ``restore`` (saved state, replay after an unclean stop),
``price_source`` (the price of a reading's time), ``station`` and ``const`` (the live state of a
station, the shared constants), ``entity`` and ``sensor`` (the entities), ``statistics``
(hourly statistics of the stations), ``view`` (the readings view), ``flow`` and ``url``
(config flow, options, the URL shown), ``setup`` (an entry's setup).

No imports here: the modules import one another directly, which keeps import cycles away.
"""
