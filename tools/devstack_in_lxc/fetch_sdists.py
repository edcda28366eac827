"""Download the source releases (sdists) of NAME==VERSION from PyPI.

What pip download --no-binary would fetch, without building each project's
metadata first: PyPI's simple index names the sdist, its sha256 is checked.
Files already in DIR are kept. Standard library only (runs on the host).

    python3 fetch_sdists.py DIR nova==34.0.0 neutron==29.0.0 ...
"""

import hashlib
import json
import os
import re
import sys
import urllib.request

INDEX = os.environ.get('NLC_PYPI_SIMPLE', 'https://pypi.org/simple')


def normalized(name):
    return re.sub(r'[-_.]+', '-', name).lower()


def sdist(name, version):
    """The sdist entry of PyPI's simple index (PEP 691 JSON), as pip's."""
    request = urllib.request.Request(
        '%s/%s/' % (INDEX, normalized(name)),
        headers={'Accept': 'application/vnd.pypi.simple.v1+json'})
    with urllib.request.urlopen(request, timeout=60) as answer:
        files = json.load(answer)['files']
    for entry in files:
        stem = entry['filename'][:-len('.tar.gz')]
        if entry['filename'].endswith('.tar.gz') and '-' in stem:
            project, _, release = stem.rpartition('-')
            if normalized(project) == normalized(name) and release == version:
                return entry
    raise SystemExit('%s %s has no source release on PyPI' % (name, version))


def fetch(directory, spec):
    name, _, version = spec.partition('==')
    entry = sdist(name, version)
    path = os.path.join(directory, entry['filename'])
    if not os.path.exists(path):
        digest = hashlib.sha256()
        with urllib.request.urlopen(entry['url'], timeout=300) as answer, \
                open(path + '.part', 'wb') as out:
            while chunk := answer.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != entry['hashes']['sha256']:
            os.unlink(path + '.part')
            raise SystemExit('%s: sha256 mismatch' % entry['filename'])
        os.rename(path + '.part', path)
    print('%s %s' % (spec, path))


def main(argv=sys.argv[1:]):
    directory, specs = argv[0], argv[1:]
    os.makedirs(directory, exist_ok=True)
    for spec in specs:
        fetch(directory, spec)


if __name__ == '__main__':
    main()
