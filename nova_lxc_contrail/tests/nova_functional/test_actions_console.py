"""Console output (os-getConsoleOutput) of an LXC server.

The image's init writes known lines to its console at every boot; the API
returns them from the first boot on, across a soft reboot (libvirt starts
a new controller with a new pty: the lifecycle event restarts the reader),
and bounded: a flood keeps only the last ``console_log_bytes``, and the
container is never blocked by a console nobody reads.
"""

import os
import time

from nova_lxc_contrail.tests.nova_functional import base

HELLO = 'CONSOLE-HELLO-%d'
FLOOD_END = 'FLOOD-END'
FLOOD_LINES = 4000
FLOOD_TEXT = 'flood ' + 'x' * 64
LOG_BYTES = 16 * 1024

HELLO_RCS = base.BOOT_RCS + ''.join(
    'echo %s\n' % (HELLO % i) for i in (1, 2))
# ~300 KiB to the console before the boot is logged: without a reader the
# container would block on its console after a few KiB.
FLOOD_RCS = ('#!/bin/sh\n'
             'i=0\n'
             'while [ $i -lt %d ]; do echo "%s" $i; i=$((i+1)); done\n'
             'echo %s\n' % (FLOOD_LINES, FLOOD_TEXT, FLOOD_END) +
             'echo boot >> /%s\n' % base.BOOT_LOG)


class TestConsoleOutput(base.ContrailNovaTestBase):

    LIBVIRT_EVENTS = True

    def _boot(self, rcs):
        path = base.images.build_image(
            self.image_path('console.raw'), init=base.INITCTL,
            files={'etc/init.d/rcS': rcs})
        port = self.create_vrouter_port()
        server, _ = self.boot(self.create_image(path),
                              networks=[{'port': port['id']}])
        return server, port

    def console(self, server):
        return self.api.post_server_action(
            server['id'], {'os-getConsoleOutput': {}})['output']

    def wait_for_console(self, server, text, count=1):
        for _ in range(200):
            output = self.console(server)
            if output.count(text) >= count:
                return output
            time.sleep(0.05)
        self.fail('console output has %d x %r, expected %d: %r' % (
            output.count(text), text, count, output[-2000:]))

    def log_path(self, server):
        return os.path.join(self._instances_path, server['id'],
                            'console.log')

    def test_console_from_boot_on(self):
        server, port = self._boot(HELLO_RCS)
        self.assert_server_running(server, [port])
        output = self.wait_for_console(server, HELLO % 2)
        lines = [line.strip() for line in output.splitlines()]
        self.assertEqual([HELLO % 1, HELLO % 2],
                         [line for line in lines if line.startswith('CONS')])

        self._reboot_server(server)
        self.assert_server_running(server, [port], boots=2)
        output = self.wait_for_console(server, HELLO % 2, count=2)
        lines = [line.strip() for line in output.splitlines()]
        self.assertEqual([HELLO % 1, HELLO % 2] * 2,
                         [line for line in lines if line.startswith('CONS')])

        self.delete(server)
        self.assert_nothing_left(server)
        self.assert_port_gone(port)

    def test_flood_keeps_the_last_bytes(self):
        self.flags(console_log_bytes=LOG_BYTES, group='lxc_contrail')
        server, port = self._boot(FLOOD_RCS)
        # The boot is logged after the flood: the container was not held
        # up by its console.
        self.assert_server_running(server, [port])
        output = self.wait_for_console(server, FLOOD_END)
        self.assertLessEqual(len(output.encode()), LOG_BYTES)
        self.assertGreater(len(output.encode()), LOG_BYTES // 2)
        lines = [line.strip() for line in output.splitlines()]
        self.assertEqual(FLOOD_END, lines[-1])
        # The last full lines before the end are the flood's last, in order.
        self.assertEqual(
            ['%s %d' % (FLOOD_TEXT, i)
             for i in range(FLOOD_LINES - 10, FLOOD_LINES)], lines[-11:-1])
        self.assertNotIn('%s 0' % FLOOD_TEXT, lines)
        self.assertLessEqual(os.path.getsize(self.log_path(server)),
                             2 * LOG_BYTES)

        self.delete(server)
        self.assert_nothing_left(server)
        self.assert_port_gone(port)
