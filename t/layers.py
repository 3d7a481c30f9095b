#!/usr/bin/env python3
"""layers.py - keep the tree as docs/architecture.md and docs/security-cases.md
describe it.

Usage: layers.py [TOP_SRCDIR]   (default: $top_srcdir, else this file's tree)

Fails (exit 1, one line per problem) when:
  - a .c or .h of transport/ has no layer in the ```layers block of
    docs/architecture.md, or the block names a file that does not exist;
  - a file of transport/ includes a header of a higher layer (the rule: a
    file includes only headers of its own layer or below), unless an
    "exception FILE includes HEADER: why" line allows exactly that include;
    an exception whose include is gone is an error too;
  - a file of policymap/ includes a header of transport/ or a socket or
    resolver header, or a file of tools/ includes a header of transport/;
  - a .c of transport/, policymap/ or tools/ does not include config.h
    first;
  - a security case cited anywhere in transport/, policymap/, t/, tools/,
    man/, bench/, README.md or docs/architecture.md is not a case of
    docs/security-cases.md: "catalogue = S.N" keys of scenario files (case N
    must be in section S, and the scenario must be named under "Tested by"
    of case N), "#N" and "#N to #M" in text, "case(s) N" and "section(s) S"
    on lines that name the catalogue or security-cases.md, and EAST test
    names;
  - a "Tested by" entry of docs/security-cases.md names no existing file.
"""

import fnmatch
import glob
import os
import re
import sys

ARCH = 'docs/architecture.md'
CASES = 'docs/security-cases.md'
SCENARIO_DIR = 't/integ/scenarios'

# Headers that reach sockets or the resolver: policymap/ must not need them.
# (arpa/inet.h is allowed: nexthop.c uses inet_pton() to check the syntax
# of address literals, which opens nothing.)
SOCKET_HEADERS = re.compile(
    r'^(sys/socket\.h|sys/un\.h|netinet/.*|netdb\.h|poll\.h|sys/poll\.h|'
    r'sys/select\.h|sys/epoll\.h|ares\.h|ares_.*|resolv\.h|arpa/nameser\.h|'
    r'ifaddrs\.h|net/.*)$')

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^">]+)[">]')

# Numbers after '#' that are not ours.
FOREIGN_HASH = re.compile(r'\b(UTS|issues?|PR|pull|bugs?|ticket|danetest)\s+$', re.I)
HASH_CITE = re.compile(r'(?<![\w&#])#(\d{1,3})(?!\d)(?:\s*(?:-|\u2013|to)\s*#?(\d{1,3})(?!\d))?')
NAMES_CATALOGUE = re.compile(r'catalogue|security[- ]cases', re.I)
SECTION_CITE = re.compile(r'\bsections?\s+(\d+(?:\s*(?:,|and|or|to|-|\u2013)\s*\d+)*)', re.I)
CASE_CITE = re.compile(r'\bcases?\s+(\d+(?:\s*(?:,|and|or|to|-|\u2013)\s*\d+)*)', re.I)
PARA_CITE = re.compile(r'(?:catalogue|security-cases(?:\.md)?)\s+\u00a7\s*(\d+)', re.I)
EAST_ID = re.compile(r'\b([A-Z]_\d+)\b|\b(others/[a-z]+)\b')

problems = []


def problem(msg):
    problems.append(msg)


def numbers(text):
    """'1, 3 and 5' -> [1, 3, 5]; '44-49' or '44 to 49' -> 44..49."""
    out = []
    parts = re.split(r'\s*(,|and|or|to|-|\u2013)\s*', text)
    i = 0
    while i < len(parts):
        n = int(parts[i])
        if i + 2 < len(parts) and parts[i + 1] in ('to', '-', '\u2013'):
            m = int(parts[i + 2])
            out.extend(range(n, m + 1) if m >= n else [n, m])
            i += 3
        else:
            out.append(n)
            i += 2
    return out


def read_text(path):
    with open(path, 'rb') as f:
        data = f.read(1 << 20)
    if b'\0' in data:
        return None
    return data.decode('utf-8', 'replace')


# ---------------------------------------------------------------------------
# The layers.

def parse_layers(root):
    text = read_text(os.path.join(root, ARCH))
    m = re.search(r'^```layers\n(.*?)^```', text, re.M | re.S)
    if m is None:
        problem('%s: no ```layers block' % ARCH)
        return [], {}, []
    order, layer_of, exceptions = [], {}, []
    for line in m.group(1).splitlines():
        line = line.strip()
        if not line:
            continue
        lm = re.match(r'layer\s+(\w+)\s*:\s*(.*)$', line)
        em = re.match(r'exception\s+(\S+)\s+includes\s+(\S+)\s*:\s*\S', line)
        if lm:
            order.append(lm.group(1))
            for name in lm.group(2).split():
                if name in layer_of:
                    problem('%s: %s is in two layers' % (ARCH, name))
                layer_of[name] = lm.group(1)
        elif em:
            exceptions.append([em.group(1), em.group(2), False])
        else:
            problem('%s: cannot read layer line: %s' % (ARCH, line))
    return order, layer_of, exceptions


def includes(path):
    """(line number, kind '<' or '"', name) of each #include."""
    out = []
    with open(path, encoding='utf-8', errors='replace') as f:
        for n, line in enumerate(f, 1):
            m = INCLUDE.match(line)
            if m:
                out.append((n, m.group(1), m.group(2)))
    return out


def config_first(rel, incs):
    if rel.endswith('.c') and (not incs or incs[0][1:] != ('"', 'config.h')):
        problem('%s: the first #include must be "config.h"' % rel)


def check_transport(root, order, layer_of, exceptions):
    rank = {name: i for i, name in enumerate(order)}
    tdir = os.path.join(root, 'transport')
    present = sorted(f for f in os.listdir(tdir) if f.endswith(('.c', '.h')))
    for name in sorted(layer_of):
        if name not in present:
            problem('%s: lists %s, which is not in transport/' % (ARCH, name))
    checked = 0
    for name in present:
        rel = 'transport/' + name
        if name not in layer_of:
            problem('%s: no layer (add it to the layers block of %s)' % (rel, ARCH))
            continue
        incs = includes(os.path.join(tdir, name))
        config_first(rel, incs)
        for n, kind, inc in incs:
            if kind != '"' or inc == 'config.h':
                continue
            checked += 1
            if os.path.exists(os.path.join(root, 'policymap', inc)):
                continue		# policymap/ is below every layer
            if inc not in layer_of:
                problem('%s:%d: includes "%s", which has no layer' % (rel, n, inc))
                continue
            if rank[layer_of[inc]] <= rank[layer_of[name]]:
                continue
            allowed = [e for e in exceptions if e[0] == name and e[1] == inc]
            for e in allowed:
                e[2] = True
            if not allowed:
                problem('%s:%d: includes %s (layer %s) from layer %s: a file includes '
                        'only headers of its own layer or below (%s)'
                        % (rel, n, inc, layer_of[inc], layer_of[name], ARCH))
    for f, inc, used in exceptions:
        if not used:
            problem('%s: exception "%s includes %s" allows an include that is no '
                    'longer there: remove the line' % (ARCH, f, inc))
    return checked


def check_policymap_tools(root):
    checked = 0
    pdir = os.path.join(root, 'policymap')
    own = set(os.listdir(pdir))
    for name in sorted(own):
        if not name.endswith(('.c', '.h')):
            continue
        rel = 'policymap/' + name
        incs = includes(os.path.join(pdir, name))
        config_first(rel, incs)
        for n, kind, inc in incs:
            checked += 1
            if kind == '"' and inc != 'config.h' and inc not in own:
                problem('%s:%d: includes "%s": policymap/ uses nothing outside itself'
                        % (rel, n, inc))
            if kind == '<' and SOCKET_HEADERS.match(inc):
                problem('%s:%d: includes <%s>: policymap/ knows no sockets' % (rel, n, inc))
    for path in sorted(glob.glob(os.path.join(root, 'tools', '*.[ch]'))):
        rel = os.path.relpath(path, root)
        incs = includes(path)
        config_first(rel, incs)
        for n, kind, inc in incs:
            checked += 1
            if kind == '"' and inc != 'config.h' and inc not in own:
                problem('%s:%d: includes "%s": tools/ builds on policymap/ only'
                        % (rel, n, inc))
    return checked


# ---------------------------------------------------------------------------
# The security cases.

def parse_cases(root):
    text = read_text(os.path.join(root, CASES))
    if text is None:
        problem('%s: missing' % CASES)
        return {}, {}, '', set()
    section_of, tested = {}, {}
    sections = set()
    section = None
    current = None
    in_tested = False
    for n, line in enumerate(text.splitlines(), 1):
        sm = re.match(r'## (\d+)\. ', line)
        cm = re.match(r'### (\d+)\. ', line)
        if sm:
            section = int(sm.group(1))
            sections.add(section)
            current, in_tested = None, False
            continue
        if cm:
            current = int(cm.group(1))
            if current in section_of:
                problem('%s:%d: case %d appears twice' % (CASES, n, current))
            section_of[current] = section
            tested[current] = []
            in_tested = False
            continue
        if current is None:
            continue
        if line.startswith('- **Tested by:**'):
            in_tested = True
        elif line.startswith('- ') or line.startswith('#') or not line.strip():
            in_tested = False
        if in_tested:
            for item in re.findall(r'`([^`]+)`', line):
                if '/' not in item and item.endswith('.scn'):
                    item = SCENARIO_DIR + '/' + item
                if not glob.glob(os.path.join(root, item)):
                    problem('%s:%d: case %d is tested by %s, which matches no file'
                            % (CASES, n, current, item))
                tested[current].append(item)
    return section_of, tested, text, sections


def scanned_files(root):
    tops = ['transport', 'policymap', 't', 'tools', 'man', 'bench']
    me = os.path.abspath(__file__)
    for top in tops:
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            dirnames[:] = [d for d in dirnames if d not in ('corpus', '__pycache__', '.deps')]
            for f in sorted(filenames):
                path = os.path.join(dirpath, f)
                if os.path.abspath(path) != me and not f.endswith(('.o', '.a', '.pyc')):
                    yield path
    for f in ('README.md', ARCH):
        yield os.path.join(root, f)


def check_citations(root):
    parsed = parse_cases(root)
    if len(parsed) != 4:
        return 0
    section_of, tested, text, sections = parsed
    cited = 0

    def known(rel, n, case, where):
        if case not in section_of:
            problem('%s:%d: cites case %d (%s), which %s does not have' % (rel, n, case, where, CASES))
            return False
        return True

    for path in scanned_files(root):
        if not os.path.isfile(path):
            continue
        body = read_text(path)
        if body is None:
            continue
        rel = os.path.relpath(path, root)
        for n, line in enumerate(body.splitlines(), 1):
            km = re.match(r'\s*catalogue\s*=\s*(.*)$', line)
            if km and rel.endswith('.scn'):
                for token in km.group(1).split():
                    cited += 1
                    tm = re.match(r'^(\d+)\.(\d+)$', token)
                    if tm is None:
                        problem('%s:%d: catalogue = %s: not SECTION.CASE' % (rel, n, token))
                        continue
                    sec, case = int(tm.group(1)), int(tm.group(2))
                    if not known(rel, n, case, token):
                        continue
                    if section_of[case] != sec:
                        problem('%s:%d: catalogue = %s: case %d is in section %d'
                                % (rel, n, token, case, section_of[case]))
                    if not any(fnmatch.fnmatch(rel, p) for p in tested[case]):
                        problem('%s:%d: cites case %d, but %s does not name it under '
                                '"Tested by" of case %d' % (rel, n, case, CASES, case))
                continue
            for m in HASH_CITE.finditer(line):
                if FOREIGN_HASH.search(line[:m.start()]):
                    continue
                first = int(m.group(1))
                last = int(m.group(2)) if m.group(2) else first
                for case in (range(first, last + 1) if last >= first else [first, last]):
                    cited += 1
                    known(rel, n, case, '#%d' % case)
            if NAMES_CATALOGUE.search(line):
                for m in SECTION_CITE.finditer(line):
                    if re.search(r'RFC\s*\d+\s*$', line[:m.start()]):
                        continue
                    for sec in numbers(m.group(1)):
                        cited += 1
                        if sec not in sections:
                            problem('%s:%d: cites section %d, which %s does not have'
                                    % (rel, n, sec, CASES))
                for m in PARA_CITE.finditer(line):
                    cited += 1
                    if int(m.group(1)) not in sections:
                        problem('%s:%d: cites section %s, which %s does not have'
                                % (rel, n, m.group(1), CASES))
                for m in CASE_CITE.finditer(line):
                    for case in numbers(m.group(1)):
                        cited += 1
                        known(rel, n, case, 'case %d' % case)
            if re.search(r'\bEAST\b', line):
                for m in EAST_ID.finditer(line):
                    ident = m.group(1) or m.group(2)
                    cited += 1
                    if ident not in text:
                        problem('%s:%d: cites EAST %s, which %s does not map to a case'
                                % (rel, n, ident, CASES))
    return cited


def main():
    if len(sys.argv) > 1:
        root = sys.argv[1]
    else:
        root = os.environ.get('top_srcdir') or os.path.dirname(os.path.dirname(
            os.path.abspath(__file__)))
    order, layer_of, exceptions = parse_layers(root)
    n_inc = check_transport(root, order, layer_of, exceptions) if order else 0
    n_inc += check_policymap_tools(root)
    n_cite = check_citations(root)
    for p in problems:
        print('layers: %s' % p)
    print('layers: %d includes and %d case citations checked, %d problem%s'
          % (n_inc, n_cite, len(problems), '' if len(problems) == 1 else 's'))
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
