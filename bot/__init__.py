"""wenda's front ends: the answer both of them render, the terminal harness and the Discord bot."""
