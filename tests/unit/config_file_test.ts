/**
 * The config file read into an IngressConfig: flags over the file, the
 * file's listeners, services and routes, and every mistake named by file,
 * line and key.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ingressConfig } from "../../src/cli/ingress_flags.ts";
import { UsageError } from "../../src/cli/flags.ts";
import { YamlTree } from "../../src/config/yaml_tree.ts";
import type { IngressConfig } from "../../src/app/config.ts";
import { describeConfig } from "../../src/cli/check.ts";

/** The config `args` give with `text` as the file they name. */
function withFile(text: string, args: string[] = []): IngressConfig {
  return ingressConfig(["--config", "g.yaml", ...args], false, () => undefined, () => text)!;
}

function mistake(text: string, message: string | RegExp, args: string[] = []): void {
  assert.throws(() => withFile(text, args), (e: unknown) => {
    assert.ok(e instanceof UsageError, String(e));
    assert.ok(!e.message.includes("\n"), "one line");
    if (typeof message === "string") assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  }, text);
}

describe("config file: settings", () => {
  it("reads every flag's name as a key, with the flags' parsers", () => {
    const c = withFile("grace: 3s\nretries: 5\naccess-log: true\nhedge: false\nvia: edge\n");
    assert.equal(c.graceMs, 3000);
    assert.equal(c.serviceDefaults.retries, 5);
    assert.equal(c.accessLog, true);
    assert.equal(c.serviceDefaults.replicaPolicy.hedge, false);
    assert.equal(c.via, "edge");
    assert.equal(c.configFile, "g.yaml");
  });

  it("lets scalar flags override the file, and adds --route flags to its routes", () => {
    const c = withFile("grace: 3s\nroutes: [/a:a]\n", ["--grace", "4s", "--route", "/b:b"]);
    assert.equal(c.graceMs, 4000);
    assert.deepEqual(c.routes.map((r) => [r.source, r.origin]), [["/b:b", "--route"], [
      "/a:a",
      "g.yaml:2",
    ]]);
  });

  it("allows a file with no routes (services may declare them)", () => {
    assert.deepEqual(withFile("grace: 3s\n").routes, []);
    assert.deepEqual(withFile("").routes, []);
  });

  it("names the line and key of a bad value", () => {
    mistake("\n\ngrace: soon\n", 'g.yaml:3: grace: "soon" is not a duration (like 500ms, 10s, 2m)');
    mistake("access-log: yes\n", "g.yaml:1: access-log: must be true or false");
    mistake(
      "retries: [1, 2]\n",
      "g.yaml:1: retries: must be a single value (text, a number or true/false)",
    );
    mistake("route: /a:a\n", "g.yaml:1: route: is not a setting");
    mistake("config: other.yaml\n", "g.yaml:1: config: is not a setting");
    mistake("- a\n- b\n", /g\.yaml:1: the file must be a mapping/);
    mistake("grace: 1s\ngrace: 2s\n", /g\.yaml:2: duplicated mapping key/);
  });
});

describe("config file: the access log", () => {
  it("reads access-log-format and access-log-file as keys, which turn it on", () => {
    const c = withFile("access-log-format: json\naccess-log-file: /var/log/gh/access.log\n");
    assert.deepEqual([c.accessLog, c.accessLogFormat, c.accessLogFile], [
      true,
      "json",
      "/var/log/gh/access.log",
    ]);
    const flagged = withFile("access-log-format: json\n", ["--access-log-format", "combined"]);
    assert.equal(flagged.accessLogFormat, "combined", "the flag over the file");
  });

  it("names the line of a bad format", () => {
    mistake(
      "grace: 3s\naccess-log-format: apache\n",
      'g.yaml:2: access-log-format: "apache" must be classic, json, common or combined',
    );
  });

  it("shows in gatehouse check where the lines go", () => {
    const text = (yaml: string) => describeConfig(withFile(`${yaml}routes: [/:web]\n`));
    assert.match(text(""), /\naccess log: off\n/);
    assert.match(text("access-log: true\n"), /\naccess log: classic to stderr\n/);
    assert.match(
      text("access-log-format: json\naccess-log-file: /var/log/gh/access.log\n"),
      /\naccess log: json to \/var\/log\/gh\/access\.log \(reopened on SIGUSR1\)\n/,
    );
  });
});

describe("config file: listeners", () => {
  it("reads several listeners, TLS among them", () => {
    const c = withFile(
      "listeners:\n  - listen: 80\n  - listen: 127.0.0.1:443\n    tls: { cert: c.pem, key: k.pem }\n",
    );
    assert.deepEqual(c.listeners, [
      { listen: { host: "0.0.0.0", port: 80 }, tls: null },
      { listen: { host: "127.0.0.1", port: 443 }, tls: { certPath: "c.pem", keyPath: "k.pem" } },
    ]);
  });

  it("takes the top level's listen and tls keys as one listener", () => {
    const c = withFile("listen: 8443\ntls-cert: c.pem\ntls-key: k.pem\n");
    assert.deepEqual(c.listeners, [{
      listen: { host: "0.0.0.0", port: 8443 },
      tls: { certPath: "c.pem", keyPath: "k.pem" },
    }]);
  });

  it("lets --listen replace the file's listeners", () => {
    const c = withFile("listeners:\n  - listen: 80\n  - listen: 81\n", ["--listen", "9000"]);
    assert.deepEqual(c.listeners, [{ listen: { host: "0.0.0.0", port: 9000 }, tls: null }]);
  });

  it("names what is wrong with a listener", () => {
    mistake("listeners:\n  - listen: 70000\n", /^g\.yaml:2: listeners\[0\]\.listen: /);
    mistake(
      "listeners:\n  - port: 80\n",
      "g.yaml:2: listeners[0].port: is not a listener key (listen, tls)",
    );
    mistake(
      "listeners:\n  - listen: 80\n    tls: { cert: c.pem }\n",
      /^g\.yaml:3: listeners\[0\]\.tls: must be \{cert: PATH, key: PATH\}/,
    );
    mistake("listeners: []\n", "g.yaml:1: listeners: must list at least one listener");
    mistake(
      "listeners:\n  - listen: 80\n  - listen: 0.0.0.0:80\n",
      "g.yaml:3: listeners[1].listen: 0.0.0.0:80 is listed twice",
    );
    mistake(
      "listen: 80\nlisteners:\n  - listen: 81\n",
      "g.yaml:1: listen: use listeners: or listen:, not both",
    );
  });
});

describe("config file: services", () => {
  it("gives a service its own settings over the ingress's", () => {
    const c = withFile(
      "lb: random\nretries: 4\nservices:\n  api:\n    lb: round-robin\n    health-path: /healthz\n    outlier-5xx: 2\n",
    );
    assert.deepEqual(c.serviceDefaults.balance, { kind: "random" });
    const api = c.services.get("api")!;
    assert.deepEqual(api.balance, { kind: "round-robin" });
    assert.equal(api.retries, 4, "inherited");
    assert.equal(api.health?.path, "/healthz");
    assert.equal(api.replicaPolicy.serverErrors, 2);
    assert.equal(c.serviceDefaults.health, null);
  });

  it("names a bad service setting", () => {
    mistake(
      "services:\n  api:\n    grace: 1s\n",
      "g.yaml:3: services.api.grace: is not a service setting",
    );
    mistake(
      "services:\n  api:\n    lb: fastest\n",
      /^g\.yaml:3: services\.api\.lb: "fastest" must be least-outstanding/,
    );
    mistake("services:\n  a|b: {}\n", /^g\.yaml:2: services\.a\|b: is not a service name/);
    mistake("services:\n  api: 3\n", /^g\.yaml:2: services\.api: must be a mapping of settings/);
  });
});

describe("config file: routes", () => {
  it("reads mappings and the --route form, each with its line", () => {
    const c = withFile(
      "routes:\n  - host: Shop.Example.com\n    prefix: /api/\n    service: api\n  - /img*:images\n",
    );
    assert.deepEqual(
      c.routes.map((r) => [r.host, r.prefix, r.stringPrefix, r.service, r.origin]),
      [["shop.example.com", "/api", false, "api", "g.yaml:2"], [
        "",
        "/img",
        true,
        "images",
        "g.yaml:5",
      ]],
    );
  });

  it("names what is wrong with a route", () => {
    mistake(
      "routes:\n  - { prefix: api, service: a }\n",
      'g.yaml:2: routes[0].prefix: must start with "/"',
    );
    mistake(
      "routes:\n  - { service: a }\n",
      'g.yaml:2: routes[0].prefix: is required: a path prefix like "/api"',
    );
    mistake(
      "routes:\n  - { prefix: /a }\n",
      "g.yaml:2: routes[0].service: must be a service name: 1-63 of [A-Za-z0-9._-]",
    );
    mistake(
      "routes:\n  - { prefix: /a, service: a, host: 'x y' }\n",
      /^g\.yaml:2: routes\[0\]\.host: invalid|"x y" is not a host name/,
    );
    mistake("routes:\n  - 42\n", /^g\.yaml:2: routes\[0\]: a route is a mapping/);
    mistake("routes:\n  - /a:a\n  - /a/:b\n", 'route "/a/:b" repeats "/a:a"');
    mistake("routes: /a:a\n", "g.yaml:1: routes: must be a list of routes");
  });
});

describe("YamlTree", () => {
  it("keeps the line of every key and item", () => {
    const tree = new YamlTree("t.yaml", "a:\n  b:\n    - x\n    - y: 1\n");
    assert.equal(tree.lineOf("a.b[1].y"), 4);
    assert.equal(tree.lineOf("a.b[1].nothing"), 4);
    assert.equal(tree.lineOf("a.b"), 2);
  });

  it("resolves anchors and aliases", () => {
    const tree = new YamlTree("t.yaml", "base: &b { lb: random }\nother: *b\n");
    assert.deepEqual(tree.root, { base: { lb: "random" }, other: { lb: "random" } });
  });
});
