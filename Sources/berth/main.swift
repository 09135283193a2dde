import BerthCLI
