// EngineAPI module
