/**
 * The dashboard in headless Chromium: it asks for the admin token, then
 * shows the routes with their origins, a replica as soon as it registers,
 * a replica's state turning `ejected` while its requests fail, a drained
 * one, and the request rates; a screenshot (PNG) is saved. With
 * DASHBOARD_SCREENSHOT=PATH the screenshot goes there (docs/dashboard.png
 * is made this way).
 */

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { adminPort, type Gatehouse, startGatehouse } from "../helpers/gatehouse.ts";
import { request } from "../helpers/http.ts";
import { register } from "../helpers/tower.ts";
import { type NamedReplica, startNamedReplica } from "../helpers/named_replica.ts";
import { type Browser, launchChromium, type Page } from "../helpers/chromium.ts";

const TOKEN = "dashboard-s3cret";

/** The state the page shows for replica `address` of `service` ("" while it shows none). */
function shownState(service: string, address: string): string {
  return `(document.querySelector('[data-service="${service}"] tr[data-address="${address}"]')` +
    `?.querySelector(".pill")?.textContent ?? "")`;
}

describe("the dashboard", () => {
  let gh: Gatehouse;
  let admin = 0;
  let browser: Browser;
  let page: Page;
  const replicas: NamedReplica[] = [];
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-dashboard-"));

  before(async () => {
    const config = join(dir, "gatehouse.yaml");
    writeFileSync(
      config,
      "services:\n  search:\n    health-path: /healthz\n    health-interval: 300ms\n" +
        "routes:\n  - { prefix: /search, service: search, strip-prefix: true }\n",
    );
    gh = await startGatehouse([
      "--listen",
      "127.0.0.1:0",
      "--tower-listen",
      "127.0.0.1:0",
      "--config",
      config,
      "--route",
      "/api:api",
      "--route",
      "/:web",
      "--admin",
      "127.0.0.1:0",
      "--admin-token",
      TOKEN,
      "--outlier-5xx",
      "3",
    ]);
    admin = adminPort(gh);
    browser = await launchChromium();
    page = await browser.newPage(1200, 860);
  });

  after(async () => {
    await browser?.close();
    await gh?.kill();
    for (const r of replicas) await r.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("asks for the admin token, then shows the routes with their origins", async () => {
    await page.goto(`http://127.0.0.1:${admin}/`);
    await page.waitFor(`!document.getElementById("login").hidden`);
    assert.match(
      await page.evaluate<string>(`document.getElementById("login-message").textContent`),
      /needs its token/,
    );
    await page.evaluate(`document.getElementById("token").value = ${JSON.stringify(TOKEN)};
      document.getElementById("login").requestSubmit(); true`);
    await page.waitFor(`document.getElementById("status").textContent === "live"`);
    assert.equal(
      await page.evaluate<string>(`sessionStorage.getItem("gatehouse-admin-token")`),
      TOKEN,
    );
    const routes = await page.waitFor<string[][]>(`(() => {
      const rows = [...document.querySelectorAll("#routes tr")].map((tr) =>
        [...tr.children].map((td) => td.textContent));
      return rows.length === 3 ? rows : null;
    })()`);
    assert.deepEqual(routes[0].slice(0, 3), ["/api", "api", "--route"]);
    assert.deepEqual(routes[1].slice(0, 3), ["/", "web", "--route"]);
    assert.equal(routes[2][0], "/search");
    assert.match(routes[2][2], /gatehouse\.yaml:6$/);
    assert.equal(routes[2][3], '{"strip-prefix":true}');
  });

  it("shows a replica as soon as it registers", async () => {
    const b = await startNamedReplica("b");
    replicas.push(b);
    await register(gh.towerPort!, "api", b.port);
    assert.equal(await page.waitFor(shownState("api", `127.0.0.1:${b.port}`)), "healthy");
  });

  it("shows a replica turn ejected while its requests fail, and the rates", async () => {
    const a = await startNamedReplica("a");
    replicas.push(a);
    a.status = 500;
    await register(gh.towerPort!, "api", a.port);
    const where = `127.0.0.1:${a.port}`;
    assert.equal(await page.waitFor(shownState("api", where)), "healthy");
    for (let i = 0; i < 12; i++) await request(gh.httpPort, { path: "/api/orders" });
    assert.equal(
      await page.waitFor(`${shownState("api", where)} === "ejected" && "ejected"`),
      "ejected",
    );
    const row = await page.evaluate<string>(
      `document.querySelector('tr[data-address="${where}"]').textContent`,
    );
    assert.match(row, /3 consecutive 5xx/);
    // The rates come once the second is over: requests per second above zero.
    const rate = await page.waitFor<string>(`(() => {
      const t = document.querySelector('[data-service="api"] .top').textContent;
      return /requests (?!0\\.0\\/s)\\d+\\.\\d\\/s/.test(t) ? t : null;
    })()`);
    assert.match(rate, /p50 [\d.]+ ms/);
    assert.match(rate, /p99 [\d.]+ ms/);
  });

  it("shows a drained and an unhealthy replica, and saves a screenshot", async () => {
    const c = await startNamedReplica("c");
    const s1 = await startNamedReplica("s1"), s2 = await startNamedReplica("s2", 503);
    replicas.push(c, s1, s2);
    await register(gh.towerPort!, "web", c.port);
    await register(gh.towerPort!, "search", s1.port);
    await register(gh.towerPort!, "search", s2.port);
    const drained = await request(admin, {
      method: "POST",
      path: "/api/replicas/drain",
      headers: [["Authorization", `Bearer ${TOKEN}`]],
      body: JSON.stringify({ service: "web", address: `127.0.0.1:${c.port}` }),
    });
    assert.equal(drained.status, 200);
    assert.equal(await page.waitFor(shownState("web", `127.0.0.1:${c.port}`)), "draining");
    assert.equal(
      await page.waitFor(
        `${shownState("search", `127.0.0.1:${s2.port}`)} === "unhealthy" && "unhealthy"`,
      ),
      "unhealthy",
    );
    for (let i = 0; i < 20; i++) await request(gh.httpPort, { path: "/search/q" });
    await request(gh.httpPort, { path: "/", host: "nowhere.example" });
    await page.waitFor(
      `/requests [1-9]/.test(document.querySelector('[data-service="search"] .top').textContent)`,
    );
    const png = await page.screenshot();
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.ok(png.length > 10_000, `a screenshot of ${png.length} bytes`);
    const out = process.env.DASHBOARD_SCREENSHOT ?? join(dir, "dashboard.png");
    writeFileSync(out, png);
  });
});
