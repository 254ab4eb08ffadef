#!/usr/bin/env python3
# Reads pipelog logs (tests/tools/pipelog.c): per log the pipelines created, the distinct
# ones (shader variant x specialization constants: what lavapipe compiles, once per
# process and, through Mesa's disk cache, once per README run) by variant, and how many
# of each log's distinct pipelines the logs before it on the command line already built.
#   python3 tests/tools/pipelog.py BUILD/shaders A.log [B.log ...]
import collections
import glob
import os
import sys


def fnv1a(data):
    h = 1469598103934665603
    for b in data:
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def main():
    names = {}
    for f in glob.glob(os.path.join(sys.argv[1], '*.spv')):
        with open(f, 'rb') as s:
            names['%016x' % fnv1a(s.read())] = os.path.basename(f)[:-4]
    seen = set()
    for log in sys.argv[2:]:
        keys = []
        with open(log) as f:
            for line in f:
                h, spec = line.split()[:2]
                keys.append((names.get(h, h), spec))
        distinct = list(dict.fromkeys(keys))
        print(f'{log}: {len(keys)} created, {len(distinct)} distinct, '
              f'{sum(k in seen for k in distinct)} of them in the logs before')
        for name, n in collections.Counter(k[0] for k in distinct).most_common():
            print(f'  {n:4d} {name}')
        seen.update(distinct)


main()
