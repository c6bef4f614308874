"""wenda (问答): answers questions about a folder of Chinese articles by quoting their passages.

`wenda.retrieval` is the search library (it never imports discord); `wenda.bot` holds the front
ends that render its answers: the terminal harness and the Discord bot.
"""
