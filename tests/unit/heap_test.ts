import { describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { HEAP_FLOOR, HEAP_GROWTH, HeapCeiling, objectBytes } from "../../src/runtime/bun/heap.ts";

const MiB = 1024 * 1024;

/** A heap whose size the test sets; a collection leaves `survivors` bytes. */
function fakeHeap(survivors: number) {
  const heap = { bytes: 0, survivors, collections: 0 };
  const ceiling = new HeapCeiling(() => heap.bytes, () => {
    heap.collections++;
    heap.bytes = heap.survivors;
  });
  return { heap, ceiling };
}

describe("HeapCeiling", () => {
  it("does not collect below the floor", () => {
    const { heap, ceiling } = fakeHeap(MiB);
    heap.bytes = HEAP_FLOOR - 1;
    assert.equal(ceiling.check(), false);
    assert.equal(heap.collections, 0);
    assert.equal(ceiling.ceiling, HEAP_FLOOR);
  });

  it("collects at the floor and keeps the floor while little survives", () => {
    const { heap, ceiling } = fakeHeap(MiB);
    heap.bytes = HEAP_FLOOR;
    assert.equal(ceiling.check(), true);
    assert.equal(heap.collections, 1);
    assert.equal(heap.bytes, MiB);
    assert.equal(ceiling.ceiling, HEAP_FLOOR);
    assert.equal(ceiling.check(), false);
  });

  it("raises the ceiling with what survives, and lowers it again", () => {
    const { heap, ceiling } = fakeHeap(40 * MiB);
    heap.bytes = 50 * MiB;
    assert.equal(ceiling.check(), true);
    assert.equal(ceiling.ceiling, HEAP_GROWTH * 40 * MiB);
    // A large live heap is not collected again until it has grown by half.
    heap.bytes = 59 * MiB;
    assert.equal(ceiling.check(), false);
    heap.bytes = 60 * MiB;
    heap.survivors = MiB;
    assert.equal(ceiling.check(), true);
    assert.equal(ceiling.ceiling, HEAP_FLOOR);
    assert.equal(heap.collections, 2);
  });
});

if ("Bun" in globalThis) {
  const bun = (globalThis as unknown as { Bun: { gc(sync: boolean): void } }).Bun;

  describe("HeapCeiling in Bun", () => {
    it("counts objects, not the memory buffers hold", () => {
      bun.gc(true);
      const heapBefore = process.memoryUsage().heapUsed, objectsBefore = objectBytes();
      const buffers = Array.from({ length: 16 }, () => new Uint8Array(MiB).fill(1));
      const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
      assert.ok(heapGrowth >= 8 * MiB, `the heap did not count the buffers: ${heapGrowth}`);
      const objectGrowth = objectBytes() - objectsBefore;
      assert.ok(objectGrowth < 2 * MiB, `buffers counted as objects: ${objectGrowth}`);
      assert.equal(buffers.length, 16);
    });

    it("collects through Bun.gc when above the ceiling", () => {
      let collections = 0;
      const ceiling = new HeapCeiling(objectBytes, () => {
        collections++;
        bun.gc(true);
      }, 1);
      assert.equal(ceiling.check(), true);
      assert.equal(collections, 1);
      assert.ok(ceiling.ceiling > 1, `ceiling ${ceiling.ceiling}`);
      assert.ok(
        ceiling.ceiling <= HEAP_GROWTH * (objectBytes() + MiB),
        `ceiling ${ceiling.ceiling}`,
      );
    });
  });
}
