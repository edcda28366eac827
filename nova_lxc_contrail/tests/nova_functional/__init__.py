# nova's functional test package applies eventlet's monkey patching when
# imported. Do it before any test module of this suite imports what it
# patches: pyroute2 0.8 imports socketserver (and so selectors) at import
# time, and a socketserver on the unpatched poll blocks every green thread.
import nova.tests.functional  # noqa: F401
