"""The web server `make dev` starts (`make run` starts gunicorn): Django's runserver (with
autoreload and static files) whose accepted sockets set TCP_NODELAY.

wsgiref writes a response's headers and body in separate send() calls; with Nagle's
algorithm on, the body waits for the client's delayed ACK of the headers (~40 ms on
Linux), which halved the ingestion API's throughput over loopback.
"""

from __future__ import annotations

import socket

from django.contrib.staticfiles.management.commands.runserver import Command as RunserverCommand
from django.core.servers.basehttp import WSGIServer


class NoDelayWSGIServer(WSGIServer):
    def get_request(self):
        conn, address = super().get_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, address


class Command(RunserverCommand):
    help = "Run the web server (runserver with TCP_NODELAY)."
    server_cls = NoDelayWSGIServer
