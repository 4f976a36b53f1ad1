import { describe, expect, it } from "vitest";
import { readSettings } from "../../src/config/settings.ts";
import { ConfigurationError } from "../../src/sdk/errors.ts";

describe("tracing settings (the standard OpenTelemetry variables)", () => {
  it("exports no traces unless an OTLP endpoint is set", () => {
    expect(readSettings({}).tracing).toBeUndefined();
    expect(readSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: " " }).tracing).toBeUndefined();
    expect(
      readSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://localhost:4318", OTEL_SDK_DISABLED: "true" }).tracing,
    ).toBeUndefined();
  });

  it("names the service tenon unless OTEL_SERVICE_NAME says otherwise", () => {
    expect(readSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://localhost:4318" }).tracing).toEqual({
      endpoint: "http://localhost:4318",
      serviceName: "tenon",
    });
    expect(
      readSettings({
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://otel.example.com/v1/traces",
        OTEL_SERVICE_NAME: "shop",
      }).tracing,
    ).toEqual({ endpoint: "https://otel.example.com/v1/traces", serviceName: "shop" });
  });

  it("refuses an endpoint that is not an http(s) URL, naming the variable", () => {
    expect(() => readSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: "localhost:4317" })).toThrow(ConfigurationError);
    expect(() => readSettings({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "grpc://collector" })).toThrow(
      'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is "grpc://collector"',
    );
  });
});
