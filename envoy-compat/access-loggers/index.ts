// Access loggers (HCM `access_log`): file and stdout/stderr with the default text format or
// json_format are what issue 5 plans; gRPC ALS and OpenTelemetry have no pillion equivalent.
// TODO(envoy-compat): map file/stdout/stderr (path, log_format.text_format_source, json_format,
// filter) onto pillion's access log once issue 5 lands in src/config/validate.ts.
import type { AccessLoggerTranslator } from '../extensions.js';

const logger = (name: string, types: string[], why: string): AccessLoggerTranslator => ({
  name,
  types,
  translate(entry) {
    entry.dropSelf(`access log ${name}: ${why}`);
  },
});

const NOT_YET = 'pillion writes no access log yet (issue 5)';

export const accessLoggers: readonly AccessLoggerTranslator[] = [
  logger('envoy.access_loggers.file', ['envoy.extensions.access_loggers.file.v3.FileAccessLog'], NOT_YET),
  logger('envoy.access_loggers.stdout', ['envoy.extensions.access_loggers.stream.v3.StdoutAccessLog'], NOT_YET),
  logger('envoy.access_loggers.stderr', ['envoy.extensions.access_loggers.stream.v3.StderrAccessLog'], NOT_YET),
  logger('envoy.access_loggers.http_grpc', ['envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig'], 'pillion has no gRPC access log service client'),
  logger('envoy.access_loggers.open_telemetry', ['envoy.extensions.access_loggers.open_telemetry.v3.OpenTelemetryAccessLogConfig'], 'pillion has no OpenTelemetry log exporter'),
];
