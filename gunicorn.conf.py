"""gunicorn reads this file when started from a checkout without --config: the settings
are in the package (worker/gunicorn_conf.py), so an installed API has them too."""

from worker.gunicorn_conf import child_exit, logconfig_dict, on_starting, post_fork

__all__ = ["child_exit", "logconfig_dict", "on_starting", "post_fork"]
