"""The Rasa side of the bot: training data, NLU components, channels and launchers."""
