"""Which part of a disk is the container's root: the root partition policy.

``[lxc_contrail] root_partition`` (or the image property
``lxc_root_partition``, which wins) is one of:

- ``auto``: the whole disk when it has no partition table; otherwise
  partition 1 when it holds the root filesystem (an executable /sbin/init),
  else the first other partition, by number, that holds one. Numbers, not
  disk order: GPT cloud images put partition 1 after partitions 14 and 15.
- ``none``: the whole disk, partition table or not.
- a partition number: that partition and no other.
"""

import dataclasses

from nova_lxc_contrail import exception

AUTO = 'auto'
WHOLE_DISK = 'none'
IMAGE_PROPERTY = 'lxc_root_partition'


def parse_policy(value, source):
    """Return 'auto', 'none' or a partition number (int >= 1).

    :param source: where the value came from, for the error message
    """
    text = str(value).strip().lower()
    if text in (AUTO, WHOLE_DISK):
        return text
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise exception.ConfigError(
        reason='%s = %r: expected auto, none or a partition number (1, 2, '
               '...)' % (source, value))


@dataclasses.dataclass(frozen=True)
class Candidate:
    partition: object     # a partition.Partition, or None for the whole disk
    reason: str           # why this one would be the root
    explicit: bool        # asked for by the policy: no fallback

    @property
    def label(self):
        if self.partition is None:
            return 'whole disk'
        return 'partition %d' % self.partition.number


def candidates(table, policy, image):
    """The roots to try, in order, for ``table`` (None: no table)."""
    if policy == WHOLE_DISK:
        return [Candidate(None, 'root_partition = none: the whole disk',
                          True)]
    if isinstance(policy, int):
        if table is None:
            raise exception.RootfsError(
                image=image, partition='partition %d' % policy,
                reason='the image has no partition table '
                       '(root_partition = none or auto mounts the whole '
                       'disk)')
        part = table.get(policy)
        if part is None or part.container:
            raise exception.RootfsError(
                image=image, partition='partition %d' % policy,
                reason='no such partition; the %s table has %s'
                       % (table.label, _numbers(table)))
        return [Candidate(part, 'root_partition = %d' % policy, True)]
    if table is None:
        return [Candidate(None, 'no partition table: the whole disk', True)]
    parts = [p for p in table.partitions if not p.container]
    if not parts:
        raise exception.RootfsError(
            image=image, partition='partition table',
            reason='the %s partition table has no partitions' % table.label)
    ordered = sorted(parts, key=lambda p: (p.number != 1, p.number))
    result = []
    for part in ordered:
        if part.number == 1:
            reason = 'partition 1 holds the root filesystem'
        else:
            reason = ('partition %d holds an executable /sbin/init'
                      % part.number)
            if table.get(1) is not None:
                reason += ' and partition 1 does not'
        result.append(Candidate(part, reason, False))
    return result


def _numbers(table):
    numbers = [str(p.number) for p in table.partitions if not p.container]
    if not numbers:
        return 'no partitions'
    return 'partition%s %s' % ('s' if len(numbers) > 1 else '',
                               ', '.join(numbers))
