# SPDX-License-Identifier: MIT
"""contrib/prometheus/check_metrics.py on the library's own exposition
(slot_status_prometheus through Store.metrics()), and on text that breaks
each rule it checks."""

import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))      # python/, for "slotfs"

import slotfs                                   # noqa: E402

CHECKER = os.path.join(ROOT, "contrib", "prometheus", "check_metrics.py")
DASHBOARD = os.path.join(ROOT, "contrib", "grafana", "slotfs-dashboard.json")


def load_checker():
    spec = importlib.util.spec_from_file_location("check_metrics", CHECKER)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


cm = load_checker()


_text = None


def store_metrics():
    """Exposition text of a small store after some work (made once)."""
    global _text
    if _text is None:
        with tempfile.TemporaryDirectory(prefix="slotfs-py-metrics-") as d:
            path = os.path.join(d, "image")
            slotfs.format(path, 128 << 20)
            with slotfs.Store(path, periodic_checkpoint=False) as st:
                st.put_many(["a/%d" % i for i in range(10)],
                            [os.urandom(1000 * i) for i in range(10)])
                st.get_many(["a/%d" % i for i in range(10)])
                st.delete("a/3")
                st.checkpoint(force=True)
                _text = st.metrics()
    return _text


class TestStoreMetrics(unittest.TestCase):

    def setUp(self):
        self.text = store_metrics()

    def test_clean(self):
        problems, families = cm.check(self.text)
        self.assertEqual(problems, [])
        self.assertGreaterEqual(len(families), 30)
        for name, fam in families.items():
            self.assertTrue(name.startswith("slotfs_"), name)
            self.assertEqual(fam.type == "counter", name.endswith("_total"),
                             name)
        self.assertEqual(families["slotfs_keys"].samples[0][3], 9)
        self.assertEqual(families["slotfs_puts_total"].samples[0][3], 10)
        engine = dict(families["slotfs_info"].samples[0][2])["engine"]
        self.assertIn(engine, ("io_uring", "psync"))

    def test_command_line(self):
        r = subprocess.run([sys.executable, CHECKER], input=self.text,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith("OK: "), r.stdout)
        bad = self.text.replace("slotfs_puts_total", "slotfs_puts")
        r = subprocess.run([sys.executable, CHECKER, "-"], input=bad,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("counter name must end in _total", r.stderr)


class TestDashboard(unittest.TestCase):
    """contrib/grafana/slotfs-dashboard.json queries only metrics the
    library exports, through the ${DS_PROMETHEUS} data source."""

    def test_dashboard(self):
        with open(DASHBOARD, encoding="utf-8") as f:
            dash = json.load(f)
        self.assertGreaterEqual(dash["schemaVersion"], 36)
        names = [v["name"] for v in dash["templating"]["list"]]
        self.assertIn("DS_PROMETHEUS", names)
        _, families = cm.check(store_metrics())
        ids = set()
        used = set()
        for p in dash["panels"]:
            self.assertNotIn(p["id"], ids)
            ids.add(p["id"])
            g = p["gridPos"]
            self.assertLessEqual(g["x"] + g["w"], 24, p["title"])
            if p["type"] == "row":
                continue
            self.assertEqual(p["datasource"]["uid"], "${DS_PROMETHEUS}")
            self.assertTrue(p["targets"], p["title"])
            for t in p["targets"]:
                self.assertEqual(t["datasource"]["uid"], "${DS_PROMETHEUS}")
                for m in re.findall(r"slotfs_[a-z_]+", t["expr"]):
                    self.assertIn(m, families, "%s: %s" % (p["title"], m))
                    used.add(m)
        # the metrics the dashboard is about
        for m in ("inflight_io", "sq_depth", "sq_depth_max", "cq_depth_max",
                  "metadata_dirty_total", "metadata_persisted_total",
                  "checkpoints_total", "last_checkpoint_timestamp_seconds",
                  "keys", "free_bytes", "capacity_bytes",
                  "io_read_bytes_total", "io_written_bytes_total",
                  "io_errors_total", "checksum_errors_total",
                  "lock_acquisitions_total"):
            m = "slotfs_" + m
            self.assertIn(m, used)


class TestRules(unittest.TestCase):
    """Each rule, broken once."""

    def problems(self, text, prefix="slotfs_"):
        return [m for _, m in cm.check(text, prefix)[0]]

    def assertFlags(self, text, fragment):
        msgs = self.problems(text)
        self.assertTrue(any(fragment in m for m in msgs),
                        "%r not in %r" % (fragment, msgs))

    def test_good(self):
        text = ('# HELP slotfs_x_bytes X.\n# TYPE slotfs_x_bytes gauge\n'
                'slotfs_x_bytes{a="1",b="q\\"\\\\\\n"} 1.5e3 1700000000\n'
                '# HELP slotfs_h_seconds H.\n# TYPE slotfs_h_seconds '
                'histogram\nslotfs_h_seconds_bucket{le="+Inf"} 1\n'
                'slotfs_h_seconds_sum 0.5\nslotfs_h_seconds_count 1\n'
                '# HELP slotfs_n_total N.\n# TYPE slotfs_n_total counter\n'
                'slotfs_n_total +Inf\n')
        self.assertEqual(self.problems(text), [])

    def test_missing_help_type(self):
        self.assertFlags("# TYPE slotfs_a gauge\nslotfs_a 1\n", "no HELP")
        self.assertFlags("# HELP slotfs_a A.\nslotfs_a 1\n", "no TYPE")
        self.assertFlags("slotfs_a 1\n", "without HELP and TYPE")

    def test_prefix(self):
        self.assertFlags("# HELP other_a A.\n# TYPE other_a gauge\n"
                         "other_a 1\n", "does not start with 'slotfs_'")

    def test_counter_total(self):
        self.assertFlags("# HELP slotfs_a A.\n# TYPE slotfs_a counter\n"
                         "slotfs_a 1\n", "must end in _total")
        self.assertFlags("# HELP slotfs_a_total A.\n# TYPE slotfs_a_total "
                         "gauge\nslotfs_a_total 1\n", "_total is for counters")
        self.assertFlags("# HELP slotfs_a_total A.\n# TYPE slotfs_a_total "
                         "counter\nslotfs_a_total -1\n", "negative")

    def test_units(self):
        self.assertFlags("# HELP slotfs_age_ms A.\n# TYPE slotfs_age_ms "
                         "gauge\nslotfs_age_ms 1\n", "not a base unit")
        self.assertFlags("# HELP slotfs_read_byte_total A.\n# TYPE "
                         "slotfs_read_byte_total counter\n"
                         "slotfs_read_byte_total 1\n", "use _bytes")
        self.assertFlags("# HELP slotfs_bytes_read_total A.\n# TYPE "
                         "slotfs_bytes_read_total counter\n"
                         "slotfs_bytes_read_total 1\n", "must come last")

    def test_label_syntax(self):
        head = "# HELP slotfs_a A.\n# TYPE slotfs_a gauge\n"
        self.assertFlags(head + 'slotfs_a{1x="a"} 1\n', "bad label name")
        self.assertFlags(head + 'slotfs_a{x=a} 1\n', 'expected ="')
        self.assertFlags(head + 'slotfs_a{x="a} 1\n', "unterminated")
        self.assertFlags(head + 'slotfs_a{x="\\t"} 1\n', "bad escape")
        self.assertFlags(head + 'slotfs_a{x="a",x="b"} 1\n', "repeated")
        self.assertFlags(head + 'slotfs_a{__x="a"} 1\n', "reserved")
        self.assertFlags(head + 'slotfs_a{x="a" y="b"} 1\n', "expected , or }")

    def test_values_and_structure(self):
        head = "# HELP slotfs_a A.\n# TYPE slotfs_a gauge\n"
        self.assertFlags(head + "slotfs_a one\n", "bad value")
        self.assertFlags(head + "slotfs_a 1 2.5\n", "bad timestamp")
        self.assertFlags(head + "slotfs_a 1\nslotfs_a 2\n", "duplicate")
        self.assertFlags(head + "slotfs_a 1", "newline")
        self.assertFlags(head + "slotfs_a 1\n# HELP slotfs_a again\n",
                         "after its samples")
        two = ("# HELP slotfs_b B.\n# TYPE slotfs_b gauge\n")
        self.assertFlags(head + two + 'slotfs_a{x="1"} 1\nslotfs_b 1\n'
                         'slotfs_a{x="2"} 1\n', "split by another family")
        self.assertFlags("# HELP slotfs_a A.\n# TYPE slotfs_a widget\n"
                         "slotfs_a 1\n", "unknown TYPE")
        self.assertFlags("# HELP slotfs_i I.\n# TYPE slotfs_i counter\n"
                         "slotfs_i_info 1\n", "without HELP")
        self.assertFlags("# HELP slotfs_x_info I.\n# TYPE slotfs_x_info "
                         "gauge\nslotfs_x_info 2\n", "must be 1")


if __name__ == "__main__":
    unittest.main()
