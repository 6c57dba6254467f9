import { Server as HttpServer } from "node:http";
import { Server as HttpsServer } from "node:https";
import { describe, expect, it } from "vitest";
import { createListenServer, dialOptions, failureReason } from "../../src/transport/index.js";

const noop = (): void => {};

describe("transport/ws-tls", () => {
  describe("createListenServer", () => {
    it("makes a plain HTTP server without TLS and refuses TLS without a certificate and key", () => {
      const plain = createListenServer(undefined, {}, noop);
      expect(plain).toBeInstanceOf(HttpServer);
      expect(plain).not.toBeInstanceOf(HttpsServer);
      expect(() => createListenServer({ ca: "x" }, {}, noop)).toThrow(/certificate and its key/);
    });
  });

  describe("dialOptions", () => {
    it("adds nothing without TLS, for ws:// and wss:// alike (wss:// then verifies against the system store)", () => {
      expect(dialOptions(undefined, "ws://127.0.0.1:1")).toEqual({});
      expect(dialOptions(undefined, "wss://127.0.0.1:1")).toEqual({});
    });

    it("passes the CA and the client certificate for wss://, the certificate only with its key", () => {
      expect(dialOptions({ ca: "CA", cert: "C", key: "K" }, "wss://h:1")).toEqual({ minVersion: "TLSv1.2", ca: "CA", cert: "C", key: "K" });
      expect(dialOptions({ ca: "CA" }, "wss://h:1")).toEqual({ minVersion: "TLSv1.2", ca: "CA" });
      expect(dialOptions({ cert: "C" }, "wss://h:1")).toEqual({ minVersion: "TLSv1.2" });
    });

    it("refuses a ws:// URL when TLS is configured", () => {
      expect(() => dialOptions({ ca: "CA" }, "ws://h:1")).toThrow(/in the clear/);
    });
  });

  describe("failureReason", () => {
    it("shortens an OpenSSL error to its reason and leaves other messages as they are", () => {
      const openssl = new Error("80ACA832067F0000:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number 116\n");
      expect(failureReason(openssl)).toBe("TLS: tlsv13 alert certificate required");
      expect(failureReason(new Error("connect ECONNREFUSED 127.0.0.1:1"))).toBe("connect ECONNREFUSED 127.0.0.1:1");
      expect(failureReason("plain")).toBe("plain");
    });
  });
});
