/**
 * `@meridian/service-kit`: what every Meridian service shares at start-up.
 * @module
 */

export {
  type Boot,
  boot,
  CONNECT_TIMEOUT_MS,
  connectNatsOrExit,
  connectRedisOrExit,
  loadConfigOrExit,
  startTelemetryOrExit,
} from "./boot.js";
export {
  type ConfigProblem,
  defaultInstanceId,
  type Env,
  MeridianEnv,
  readBoolean,
  readEnvMode,
  readInt,
  readNatsServers,
  readNumber,
  readPattern,
  readRedisPrefix,
  readRedisUrl,
  readSubjectPrefix,
  readTelemetry,
  type TelemetryEnv,
} from "./env.js";
export { OpsServerError, OpsServerErrorCode } from "./errors.js";
export {
  DEFAULT_OPS_CHECK_TIMEOUT_MS,
  DEFAULT_OPS_HOST,
  METRICS_OFF_BODY,
  type MetricsSource,
  type OpsLogger,
  type OpsServer,
  type OpsServerOptions,
  type ReadinessCheckFn,
  startOpsServer,
} from "./ops-server.js";
export { readWorldConfig, WORLD_VARIABLES } from "./world-env.js";
