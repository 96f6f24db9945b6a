#!/usr/bin/env python3
"""Validates UBL invoices with the official CEN/TC 434 EN 16931 rules (validation XSLT 1.3.16).

The stylesheet is the Schematron compiled to XSLT 2.0 by CEN; it runs in Saxon (the PyPI
package `saxonche`, installed into `.tools/py` by scripts/setup.sh). It is compiled ONCE, then
every file is transformed and its SVRL report read: each `svrl:failed-assert` with
`flag="fatal"` is a failure, anything else (`warning`) is printed but accepted.

Usage:
  validate_ubl.py [--examples] [--quiet-warnings] FILE_OR_DIR...

  FILE_OR_DIR   XML files, or directories whose *.xml files are validated (sorted).
  --examples    also validate the official examples in ../shared/conformance/en16931/examples
                (the sanity check that this script reads the rules right).

Prints one line per failed assertion, then the summary line
  "validated N files: F fatal, W warnings"
and exits 0 when there is no fatal assertion, 1 when there is one, 2 on usage or set-up errors.
"""

import argparse
import collections
import pathlib
import re
import sys
import xml.etree.ElementTree as ElementTree

SVRL = "{http://purl.oclc.org/dsdl/svrl}"
UBL_ROOTS = {
    "{urn:oasis:names:specification:ubl:schema:xsd:Invoice-2}Invoice",
    "{urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2}CreditNote",
}
# Locations read "/*:Invoice[namespace-uri()='…'][1]/…": shown without the namespace tests.
NAMESPACE_TEST = re.compile(r"\[namespace-uri\(\)='[^']*'\]")
REPO = pathlib.Path(__file__).resolve().parents[2]
# CI runs in a fresh clone with shared/ beside it, so the rules live next to the repository.
RULES = REPO.parent / "shared" / "conformance" / "en16931"
STYLESHEET = RULES / "EN16931-UBL-validation.xslt"


def xml_files(arguments, with_examples):
    paths = [pathlib.Path(a) for a in arguments]
    if with_examples:
        paths.insert(0, RULES / "examples")
    files = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(path.glob("*.xml")))
        elif path.is_file():
            files.append(path)
        else:
            raise SystemExit(f"validate_ubl: no such file or directory: {path}")
    return files


def failed_asserts(report_xml):
    """(flag, id, location, text) of every failed assertion in an SVRL report."""
    root = ElementTree.fromstring(report_xml)
    for failed in root.iter(SVRL + "failed-assert"):
        text = " ".join("".join(failed.itertext()).split())
        yield (
            failed.get("flag", "fatal"),
            failed.get("id", "?"),
            NAMESPACE_TEST.sub("", failed.get("location", "?")),
            text,
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--examples", action="store_true")
    parser.add_argument("--quiet-warnings", action="store_true")
    options = parser.parse_args()

    try:
        from saxonche import PySaxonApiError, PySaxonProcessor
    except ImportError:
        print(
            "validate_ubl: saxonche is not installed in this interpreter; run `make setup`",
            file=sys.stderr,
        )
        return 2
    if not STYLESHEET.is_file():
        print(f"validate_ubl: the EN 16931 rules are missing: {STYLESHEET}", file=sys.stderr)
        return 2

    files = xml_files(options.paths, options.examples)
    if not files:
        print("validate_ubl: no XML files given", file=sys.stderr)
        return 2

    fatal = 0
    warnings = collections.Counter()
    with PySaxonProcessor(license=False) as processor:
        compiler = processor.new_xslt30_processor()
        try:
            executable = compiler.compile_stylesheet(stylesheet_file=str(STYLESHEET))
        except PySaxonApiError as error:
            print(f"validate_ubl: cannot compile {STYLESHEET}: {error}", file=sys.stderr)
            return 2
        for path in files:
            try:
                root = ElementTree.parse(path).getroot().tag
            except ElementTree.ParseError:
                root = None  # Saxon reports the parse error below.
            if root is not None and root not in UBL_ROOTS:
                # The rules match nothing in another document, which would pass silently.
                fatal += 1
                print(f"FATAL {path}: NOT-UBL the root element {root} is no UBL 2.1 Invoice")
                continue
            try:
                report = executable.transform_to_string(source_file=str(path))
            except PySaxonApiError as error:
                report, message = None, str(error)
            else:
                message = "no report"
            if report is None:
                # Not well-formed XML, or Saxon could not run the rules: a failure, never a pass.
                fatal += 1
                print(f"FATAL {path}: XSLT-ERROR {' '.join(message.split())}")
                continue
            for flag, rule, location, text in failed_asserts(report):
                if flag == "fatal":
                    fatal += 1
                    print(f"FATAL {path}: {rule} at {location}: {text}")
                else:
                    warnings[(rule, text)] += 1
                    if not options.quiet_warnings:
                        print(f"{flag.upper()} {path}: {rule} at {location}: {text}")

    if warnings:
        print("warnings by rule:")
        for (rule, text), count in sorted(warnings.items()):
            print(f"  {count:5d} x {rule}: {text}")
    print(f"validated {len(files)} files: {fatal} fatal, {sum(warnings.values())} warnings")
    return 1 if fatal else 0


if __name__ == "__main__":
    sys.exit(main())
