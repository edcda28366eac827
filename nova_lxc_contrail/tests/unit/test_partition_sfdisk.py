"""Differential test: the reader against ``sfdisk --json`` on many layouts.

hypothesis generates layouts (GPT with any partition numbers in any disk
order, MBR with primaries, an extended partition and logicals); sfdisk writes
each one to an image file (no root needed) and reads it back; the reader
must agree with sfdisk on every partition.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile

import hypothesis
from hypothesis import strategies as st
import testtools

from nova_lxc_contrail.disk import partition

SS = 512
ALIGN = 2048           # sectors
SETTINGS = hypothesis.settings(max_examples=60, deadline=None,
                               suppress_health_check=list(
                                   hypothesis.HealthCheck))

GPT_TYPES = ['0FC63DAF-8483-4772-8E79-3D69D8477DE4',
             'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
             '21686148-6449-6E6F-744E-656564454649',
             '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F',
             '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709']
MBR_TYPES = ['83', '82', '8e', 'c', 'ef', '7']


@st.composite
def gpt_layouts(draw):
    count = draw(st.integers(1, 8))
    numbers = draw(st.permutations(range(1, 17)))[:count]
    parts = []
    for number in numbers:
        parts.append({'number': number,
                      'gap': draw(st.integers(0, 3)) * ALIGN,
                      'size': draw(st.integers(1, 4)) * ALIGN -
                      draw(st.integers(0, 7)),
                      'type': draw(st.sampled_from(GPT_TYPES)),
                      'name': draw(st.text('abcxyz-_0123456789',
                                           max_size=12))})
    return 'gpt', parts


@st.composite
def mbr_layouts(draw):
    primaries = draw(st.integers(0, 3))
    extended = draw(st.integers(0, 1)) if primaries < 4 else 0
    parts = []
    for number in range(1, primaries + 1):
        parts.append({'number': number, 'gap': draw(st.integers(0, 2)) * ALIGN,
                      'size': draw(st.integers(1, 4)) * ALIGN,
                      'type': draw(st.sampled_from(MBR_TYPES)),
                      'bootable': draw(st.booleans())})
    if extended or not parts:
        logicals = draw(st.integers(1, 5))
        parts.append({'number': len(parts) + 1, 'type': '5',
                      'logicals': [
                          {'size': draw(st.integers(1, 3)) * ALIGN,
                           'type': draw(st.sampled_from(MBR_TYPES))}
                          for _ in range(logicals)]})
    return 'dos', parts


def _script(label, parts, name):
    lines = ['label: %s' % label]
    cursor = ALIGN
    logical_lines = []
    for part in parts:
        if 'logicals' in part:
            start = cursor
            number = 5
            for logical in part['logicals']:
                cursor += ALIGN          # room for the EBR, aligned
                logical_lines.append('%s%d : start=%d, size=%d, type=%s' % (
                    name, number, cursor, logical['size'], logical['type']))
                cursor += logical['size']
                number += 1
            lines.append('%s%d : start=%d, size=%d, type=5' % (
                name, part['number'], start, cursor - start))
            continue
        cursor += part['gap']
        fields = ['start=%d' % cursor, 'size=%d' % part['size'],
                  'type=%s' % part['type']]
        if part.get('name'):
            fields.append('name="%s"' % part['name'])
        if part.get('bootable'):
            fields.append('bootable')
        lines.append('%s%d : %s' % (name, part['number'], ', '.join(fields)))
        cursor += part['size'] + (-part['size']) % ALIGN
    return '\n'.join(lines + logical_lines) + '\n', cursor


class TestAgainstSfdisk(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)

    def _compare(self, label, parts):
        path = os.path.join(self.tmp, 'disk.img')
        script, end = _script(label, parts, 'disk.img')
        with open(path, 'wb') as f:
            f.truncate(0)
            f.truncate((end + ALIGN) * SS)
        subprocess.run(['sfdisk', '--quiet', '--no-reread', '--no-tell-kernel',
                        'disk.img'], input=script, text=True, check=True,
                       cwd=self.tmp, capture_output=True)
        out = subprocess.run(['sfdisk', '--json', 'disk.img'], check=True,
                             cwd=self.tmp, capture_output=True, text=True)
        expected = json.loads(out.stdout)['partitiontable']
        table = partition.read_partition_table_from_path(path)

        self.assertEqual(expected['label'], table.label)
        self.assertEqual(expected['sectorsize'], table.sector_size)
        self.assertEqual(expected['id'].lower(), table.disk_id.lower())
        want = {}
        for part in expected['partitions']:
            number = int(re.search(r'(\d+)$', part['node']).group(1))
            want[number] = (part['start'], part['size'],
                            part['type'].lower(), part.get('name', ''),
                            part.get('uuid', '').upper(),
                            part.get('bootable', False))
        got = {p.number: (p.start // SS, p.size // SS, p.type.lower(),
                          p.name, p.uuid, p.bootable)
               for p in table.partitions}
        self.assertEqual(want, got)

    @SETTINGS
    @hypothesis.given(gpt_layouts())
    def test_gpt(self, layout):
        self._compare(*layout)

    @SETTINGS
    @hypothesis.given(mbr_layouts())
    def test_mbr(self, layout):
        self._compare(*layout)

    def test_gpt_cloud_image_layout(self):
        self._compare('gpt', [
            {'number': 14, 'gap': 0, 'size': 8192, 'type': GPT_TYPES[2],
             'name': ''},
            {'number': 15, 'gap': 0, 'size': 217088, 'type': GPT_TYPES[1],
             'name': ''},
            {'number': 1, 'gap': 0, 'size': 4096000, 'type': GPT_TYPES[0],
             'name': 'cloudimg-rootfs'}])
