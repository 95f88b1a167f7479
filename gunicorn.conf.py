"""Read by every gunicorn started from the repository root (serve, the test servers, the benchmarks).

gunicorn 25+ opens a control socket at one fixed path per user ($HOME/.gunicorn/gunicorn.ctl), so two servers of
different profiles would fight over it; nothing here uses it. Older gunicorns ignore the unknown name.
"""

control_socket_disable = True
