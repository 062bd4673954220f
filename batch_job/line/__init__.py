"""LINE: the Messaging API client, the album-ready push message and the single-photo bot.

``client`` is the only module that talks to LINE; ``notify`` (in batch_job) and
``bot`` use it. ``aws_lambda`` and ``server`` adapt the bot's pure webhook
handler to API Gateway and to a local HTTP server.
"""
