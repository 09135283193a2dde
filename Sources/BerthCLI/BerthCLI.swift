// BerthCLI module
