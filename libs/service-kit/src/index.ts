/**
 * `@meridian/service-kit`: what every Meridian service shares at start-up.
 * @module
 */
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
} from "./env.js";
