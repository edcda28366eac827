"""Unit tests of the console log's checks and the rescue domain XML."""

from lxml import etree
import testtools

from nova_lxc_contrail.virt import console
from nova_lxc_contrail.virt import driver

DOMAIN = """<domain type='lxc'><devices>
<filesystem type='mount'><source dir='/i/rootfs'/><target dir='/'/>
</filesystem>
<console type='pty'><source path='/dev/pts/7'/><target type='lxc'/></console>
</devices></domain>"""


class TestConsole(testtools.TestCase):

    def test_pty_path(self):
        self.assertEqual('/dev/pts/7', console.pty_path(DOMAIN))
        self.assertIsNone(console.pty_path(
            "<domain><devices><console type='pty'/></devices></domain>"))

    def test_bad_arguments_named(self):
        for pty, log, size, word in (
                ('/etc/passwd', '/i/console.log', 10, 'pty'),
                ('/dev/pts/x', '/i/console.log', 10, 'pty'),
                ('/dev/pts/1', 'console.log', 10, 'absolute'),
                ('/dev/pts/1', '/i/other.log', 10, 'console.log'),
                ('/dev/pts/1', '/i/console.log', 0, 'size')):
            error = self.assertRaises(console.BadConsole, console._check,
                                      pty, log, size)
            self.assertIn(word, str(error))


class TestRescueXml(testtools.TestCase):

    def test_original_root_at_mnt(self):
        tree = etree.fromstring(driver.with_original_root(DOMAIN, '/i/orig'))
        mounts = [(fs.find('source').get('dir'), fs.find('target').get('dir'))
                  for fs in tree.findall('./devices/filesystem')]
        self.assertEqual([('/i/rootfs', '/'), ('/i/orig', '/mnt')], mounts)
