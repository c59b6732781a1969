/**
 * `gatehouse tower --secret` end to end: a registrar holding the secret is
 * listed, an unsigned seed-style REGISTER is refused and changes nothing,
 * and lookups stay plain.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { TowerRefusedError, TowerRegistrar } from "../../src/registry/tower/registrar.ts";
import { type Gatehouse, startGatehouse } from "../helpers/gatehouse.ts";
import { towerRequest } from "../helpers/tower.ts";

describe("a Tower run with --secret", () => {
  let tower: Gatehouse;
  before(async () => {
    tower = await startGatehouse(["tower", "--listen", "127.0.0.1:0", "--secret", "s3cret"]);
  });
  after(async () => {
    await tower?.kill();
  });

  it("refuses an unsigned REGISTER and lists nothing", async () => {
    const reply = await towerRequest(tower.towerPort!, "REGISTER|api|127.0.0.1|8081");
    assert.equal(reply, "ERR|UNAUTHORIZED|api");
    assert.equal(await towerRequest(tower.towerPort!, "LIST"), "OK|LIST|0|");
  });

  it("accepts a registrar that signs with the secret; lookups stay plain", async () => {
    const registrar = await TowerRegistrar.open(
      { host: "127.0.0.1", port: tower.towerPort! },
      { secret: "s3cret" },
    );
    const reg = await registrar.register("api", { host: "127.0.0.1", port: 8081 });
    try {
      assert.equal(
        await towerRequest(tower.towerPort!, "LOOKUP|api"),
        "OK|LOOKUP|api|127.0.0.1|8081",
      );
    } finally {
      await reg.close();
      await registrar.close();
    }
    assert.equal(await towerRequest(tower.towerPort!, "LOOKUP|api"), "ERR|NOT_FOUND|api");
  });

  it("refuses a registrar with the wrong secret", async () => {
    const registrar = await TowerRegistrar.open(
      { host: "127.0.0.1", port: tower.towerPort! },
      { secret: "wrong" },
    );
    try {
      await assert.rejects(
        registrar.register("api", { host: "127.0.0.1", port: 8081 }),
        (e: unknown) => e instanceof TowerRefusedError && /UNAUTHORIZED/.test(e.message),
      );
    } finally {
      await registrar.close();
    }
  });
});
