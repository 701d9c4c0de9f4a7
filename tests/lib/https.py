#!/usr/bin/env python3
"""The test world's HTTPS server: DIR's files on ADDRESS:443 with a certificate for
example.com (and *.example.com) that the world's own test CA signed.
usage: https.py ADDRESS CERT KEY DIR (in the inet namespace)"""
import functools
import http.server
import socketserver
import ssl
import sys


class Server(http.server.ThreadingHTTPServer):
    # HTTPServer.server_bind asks socket.getfqdn(), a reverse DNS query to the
    # host's resolver from the internet host: nothing of the world may send that.
    def server_bind(self):
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "example.com", 443


addr, cert, key, root = sys.argv[1:5]
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
handler.log_message = lambda *a: None
httpd = Server((addr, 443), handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
httpd.serve_forever()
