"""The Textual front end: `app.TunelensApp` and its screens over `engine.run.session.Session`
and the store. Session work reaches the screens as typed messages (`events`, via `bridge`)."""
