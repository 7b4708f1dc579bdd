#!/usr/bin/env python3
"""Writes small hostile checkpoints for the CLI tests (Tests/Fixtures/hostile/).

Each is a real PyTorch legacy container (magic, protocol, sys_info, object pickle)
or a zip container whose object pickle calls a dangerous global when unpickled by
Python's pickle. segc must refuse each at the GLOBAL opcode, naming the global, and
run nothing (the payload would create /tmp/segc-pwned-<name>).
Run from the repository root: python3 Fixtures/make_hostile.py
"""
import io, os, pickle, struct, sys, zipfile, subprocess, builtins

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "hostile")
os.makedirs(OUT, exist_ok=True)

class Evil:
    def __init__(self, fn, args): self.fn, self.args = fn, args
    def __reduce__(self): return (self.fn, self.args)

class Model:  # a pickled nn.Module-like class (not in the allowlist)
    def __init__(self): self.weight = 1

payloads = {
    "os_system": Evil(os.system, ("touch /tmp/segc-pwned-os_system",)),
    "builtins_eval": Evil(builtins.eval, ("open('/tmp/segc-pwned-builtins_eval','w')",)),
    "subprocess_popen": Evil(subprocess.Popen, (["touch", "/tmp/segc-pwned-subprocess_popen"],)),
    "unknown_class": Model(),
}

def legacy(obj):
    f = io.BytesIO()
    p = lambda o: pickle.dump(o, f, protocol=2)
    p(0x1950a86a20f9469cfc6c); p(1001)
    p({"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}})
    p({"state_dict": {"x": obj}})
    p([])
    return f.getvalue()

def zipped(obj):
    f = io.BytesIO()
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as z:
        z.writestr("evil/data.pkl", pickle.dumps({"w": obj}, protocol=2))
        z.writestr("evil/version", "3\n")
        z.writestr("evil/byteorder", "little")
    return f.getvalue()

for name, obj in payloads.items():
    with open(os.path.join(OUT, f"{name}_legacy.pth"), "wb") as f: f.write(legacy(obj))
    with open(os.path.join(OUT, f"{name}_zip.pth"), "wb") as f: f.write(zipped(obj))
print("wrote", sorted(os.listdir(OUT)))
