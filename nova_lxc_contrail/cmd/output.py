"""Plain-text tables and JSON for the operator command's output."""

import json
import sys


def table(headers, rows):
    """Render ``rows`` (sequences of str) under ``headers`` as columns."""
    rows = [[str(cell) for cell in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in [list(headers)] + rows:
        # The last column is not padded: it holds free text.
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append('  '.join(cells + [row[-1]]).rstrip())
    return '\n'.join(lines)


def print_json(data, stream=None):
    stream = stream or sys.stdout
    json.dump(data, stream, indent=2, sort_keys=True)
    stream.write('\n')
