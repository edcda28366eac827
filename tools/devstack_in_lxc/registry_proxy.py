"""An HTTP proxy that lets the DevStack container reach package registries.

The container lives in its own network namespace with no route out; apt and
pip inside it (DevStack passes http_proxy/https_proxy through sudo) reach the
registries this host already uses through this proxy, and nothing else:
``CONNECT host:443`` and plain ``GET http://host/...`` for allowed host names
only, everything else is answered 403. Standard library only: it runs on the
host before any virtualenv exists.

    python3 registry_proxy.py --listen 10.254.0.1 [--listen 10.254.0.5] \\
        --port 3128 --allow deb.debian.org --allow pypi.org ...
"""

import argparse
import asyncio
import logging
import signal
import sys

LOG = logging.getLogger('registry-proxy')


def allowed(host, allow):
    host = host.lower().rstrip('.')
    return any(host == name or host.endswith('.' + name) for name in allow)


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def refuse(writer, status, why):
    writer.write(('HTTP/1.1 %s\r\nContent-Type: text/plain\r\n'
                  'Connection: close\r\n\r\n%s\n' % (status, why)).encode())
    await writer.drain()
    writer.close()


async def handle(reader, writer, allow):
    try:
        head = await reader.readuntil(b'\r\n\r\n')
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError,
            ConnectionError):
        writer.close()
        return
    lines = head.decode('latin-1').split('\r\n')
    try:
        method, target, version = lines[0].split(' ')
    except ValueError:
        return await refuse(writer, '400 Bad Request', 'bad request line')
    if method == 'CONNECT':
        host, _, port = target.rpartition(':')
        if port != '443':
            return await refuse(writer, '403 Forbidden', 'port %s' % port)
        rest, first = b'', None
    elif target.startswith('http://'):
        hostport, _, path = target[len('http://'):].partition('/')
        host, _, port = hostport.partition(':')
        port = port or '80'
        # One request per connection, in origin form.
        headers = [h for h in lines[1:] if h and not h.lower().startswith(
            ('proxy-', 'connection:', 'keep-alive:'))]
        first = '\r\n'.join(['%s /%s %s' % (method, path, version)] +
                            headers + ['Connection: close', '', ''])
        rest = first.encode('latin-1')
    else:
        return await refuse(writer, '400 Bad Request', 'not a proxy request')
    if not allowed(host, allow):
        LOG.warning('refused %s %s', method, target)
        return await refuse(writer, '403 Forbidden',
                            '%s is not a package registry of this host' % host)
    try:
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
    except OSError as e:
        return await refuse(writer, '502 Bad Gateway', str(e))
    LOG.info('%s %s', method, target)
    if first is None:
        writer.write(b'HTTP/1.1 200 Connection established\r\n\r\n')
        await writer.drain()
    else:
        up_writer.write(rest)
    await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def serve(args):
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, args.allow), args.listen, args.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    LOG.info('listening on %s port %d for %s', ', '.join(args.listen),
             args.port, ', '.join(args.allow))
    async with server:
        await stop.wait()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--listen', action='append', required=True,
                        help='address to listen on (one per container link)')
    parser.add_argument('--port', type=int, default=3128)
    parser.add_argument('--allow', action='append', required=True,
                        help='host name (and its subdomains) to let through')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format='%(asctime)s %(levelname)s %(message)s')
    asyncio.run(serve(args))


if __name__ == '__main__':
    main()
