"""Non-speech sound-event tagging (YAMNet)."""
