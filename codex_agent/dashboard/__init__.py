"""The live dashboard: a full-screen view of every job in a project, and the keys to act on them.

`fleet` reads the jobs into rows and renders the plain-text snapshot (`dashboard --once`); it does not
import Textual. `app` is the Textual application; only the interactive command imports it. The dashboard
is a second front end next to the command line and shares its rendering helpers (`cli.render`).
"""
