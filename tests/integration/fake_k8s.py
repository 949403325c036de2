# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A fake Kubernetes API server for the NetworkAttachmentDefinition resource.

No kube-apiserver can run on this machine (toolchain.md §9), so the ``kubernetes`` backend
is tested at the HTTP boundary: a threaded ``http.server`` on 127.0.0.1 that serves
``/apis/k8s.cni.cncf.io/v1/namespaces/<ns>/network-attachment-definitions[/<name>]`` with
the API server's semantics that matter to a client: GET (one or the list), POST (409 if it
exists), PUT (the resourceVersion read must be sent back: 422 without it, 409 if stale),
DELETE, Status objects for errors, a bearer token, and server-set metadata.
"""

import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GROUP_VERSION = 'k8s.cni.cncf.io/v1'
PATH = re.compile(r'^/apis/k8s\.cni\.cncf\.io/v1/namespaces/([^/]+)/network-attachment-definitions(?:/([^/?]+))?/?(?:\?.*)?$')


def status(code, reason, message):
    return {'kind': 'Status', 'apiVersion': 'v1', 'metadata': {}, 'status': 'Failure',
            'message': message, 'reason': reason, 'code': code}


class FakeKubernetes(object):
    """``with FakeKubernetes(token) as api:`` serves on ``api.url``; ``api.objects`` holds the
    NADs by (namespace, name), ``api.requests`` every (method, path) received."""

    def __init__(self, token='vmnt-token'):
        self.token = token
        self.objects = {}
        self.requests = []
        self._version = 100
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(('127.0.0.1', 0), _handler(self))
        self.url = 'http://127.0.0.1:%d' % self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def writes(self):
        return [r for r in self.requests if r[0] != 'GET']

    def put_object(self, manifest):
        """Store an object as if someone else had created it."""
        with self._lock:
            self._store(manifest)

    def _store(self, manifest):
        self._version += 1
        metadata = manifest.setdefault('metadata', {})
        metadata.setdefault('uid', str(uuid.uuid4()))
        metadata.setdefault('creationTimestamp', '2025-01-01T00:00:00Z')
        metadata['resourceVersion'] = str(self._version)
        metadata['generation'] = metadata.get('generation', 0) + 1
        self.objects[(metadata['namespace'], metadata['name'])] = manifest
        return manifest

    def handle(self, method, path, authorization, body):
        """(code, JSON reply) of one request."""
        self.requests.append((method, path))
        if authorization != 'Bearer %s' % self.token:
            return 401, status(401, 'Unauthorized', 'Unauthorized')
        match = PATH.match(path)
        if not match:
            return 404, status(404, 'NotFound', 'the server could not find the requested resource')
        namespace, name = match.groups()
        with self._lock:
            current = self.objects.get((namespace, name)) if name else None
            if method == 'GET' and not name:
                items = [o for (ns, _n), o in sorted(self.objects.items()) if ns == namespace]
                return 200, {'apiVersion': GROUP_VERSION, 'kind': 'NetworkAttachmentDefinitionList',
                             'metadata': {'resourceVersion': str(self._version)}, 'items': items}
            if method == 'POST' and not name:
                metadata = body.get('metadata') or {}
                if metadata.get('namespace', namespace) != namespace:
                    return 400, status(400, 'BadRequest', 'the namespace of the object does not match the request')
                if (namespace, metadata.get('name')) in self.objects:
                    return 409, status(409, 'AlreadyExists', 'network-attachment-definitions.k8s.cni.cncf.io "%s" '
                                       'already exists' % metadata.get('name'))
                metadata['namespace'] = namespace
                return 201, self._store(body)
            if current is None:
                return 404, status(404, 'NotFound', 'network-attachment-definitions.k8s.cni.cncf.io "%s" not found'
                                   % name)
            if method == 'GET':
                return 200, current
            if method == 'PUT':
                sent = (body.get('metadata') or {}).get('resourceVersion')
                if not sent:
                    return 422, status(422, 'Invalid', 'metadata.resourceVersion: Invalid value: 0x0: must be '
                                       'specified for an update')
                if sent != current['metadata']['resourceVersion']:
                    return 409, status(409, 'Conflict', 'the object has been modified; please apply your changes '
                                       'to the latest version and try again')
                body['metadata']['generation'] = current['metadata']['generation']
                return 200, self._store(body)
            if method == 'DELETE':
                del self.objects[(namespace, name)]
                return 200, {'kind': 'Status', 'apiVersion': 'v1', 'status': 'Success',
                             'details': {'name': name, 'group': 'k8s.cni.cncf.io',
                                         'kind': 'network-attachment-definitions'}}
        return 405, status(405, 'MethodNotAllowed', 'method %s not allowed' % method)


def _handler(api):
    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            length = int(self.headers.get('Content-Length') or 0)
            body = json.loads(self.rfile.read(length)) if length else {}
            code, reply = api.handle(self.command, self.path, self.headers.get('Authorization'), body)
            data = json.dumps(reply).encode()
            self.send_response(code)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, *args):
            pass

    return Handler
