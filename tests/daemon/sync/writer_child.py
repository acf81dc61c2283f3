"""Run by test_persist: write two ~1 MB documents in turn, atomically, until killed."""
import sys

from mockserver.daemon.sync import PackDocument, atomic_write


def main():
    path = sys.argv[1]
    documents = [PackDocument((("Big", {"blob": letter * 1_000_000}),), version, 1).to_wire()
                 for version, letter in ((1, "a"), (2, "b"))]
    print("ready", flush=True)
    turn = 0
    while True:
        atomic_write(path, documents[turn % 2])
        turn += 1


if __name__ == "__main__":
    main()
