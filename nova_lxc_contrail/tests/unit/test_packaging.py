"""The wheel adds one module to nova's tree and uninstalls cleanly.

nova loads compute drivers as ``nova.virt.<compute_driver>``, so the wheel
ships ``nova/virt/lxc_contrail/__init__.py``; it must never ship nova's own
``__init__`` files, and ``pip uninstall`` must leave nova whole.

The wheel is built from this checkout without build isolation (pbr and
setuptools come from the test environment); the throwaway virtualenv gets
nova 34 from the package index.
"""

import glob
import os
import subprocess
import sys
import tempfile
import zipfile

import testtools

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


def _run(*argv):
    return subprocess.run(argv, check=True, capture_output=True, text=True,
                          cwd=TOP).stdout


class TestWheel(testtools.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.TemporaryDirectory(prefix='wheel-')
        _run(sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps',
             '--no-build-isolation', '-w', cls.tmp.name, TOP)
        cls.wheel = glob.glob(os.path.join(cls.tmp.name,
                                           'nova_lxc_contrail-*.whl'))[0]

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()
        super().tearDownClass()

    def test_only_the_shim_lands_in_nova(self):
        names = zipfile.ZipFile(self.wheel).namelist()
        in_nova = [n for n in names if n.startswith('nova/')]
        self.assertEqual(['nova/virt/lxc_contrail/__init__.py'], in_nova)

    def test_rootwrap_filters_ship_as_data(self):
        names = zipfile.ZipFile(self.wheel).namelist()
        self.assertEqual(
            1, len([n for n in names if n.endswith(
                '.data/data/etc/nova/rootwrap.d/nova-lxc-contrail.filters')]))

    def test_uninstall_leaves_nova_intact(self):
        venv = os.path.join(self.tmp.name, 'venv')
        _run(sys.executable, '-m', 'venv', venv)
        pip = os.path.join(venv, 'bin', 'pip')
        _run(pip, 'install', '-q', '--no-deps', 'nova==34.0.0')
        site = glob.glob(os.path.join(venv, 'lib', 'python*',
                                      'site-packages'))[0]
        nova_files = _files_below(os.path.join(site, 'nova'))
        _run(pip, 'install', '-q', '--no-deps', self.wheel)
        shim = os.path.join(site, 'nova', 'virt', 'lxc_contrail',
                            '__init__.py')
        self.assertTrue(os.path.isfile(shim))

        _run(pip, 'uninstall', '-q', '-y', 'nova-lxc-contrail')

        self.assertFalse(os.path.exists(os.path.dirname(shim)))
        self.assertEqual(nova_files,
                         _files_below(os.path.join(site, 'nova')))


def _files_below(top):
    found = set()
    for path, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if d != '__pycache__']
        found.update(os.path.relpath(os.path.join(path, f), top)
                     for f in files if not f.endswith('.pyc'))
    return found
