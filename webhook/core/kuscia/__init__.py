"""What Kuscia itself does with an AppImage, redone in Python to check it before it is
stored: today the rendering of its config templates (``render``).

Pure, no I/O: the core's rule.
"""
