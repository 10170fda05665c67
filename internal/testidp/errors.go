package testidp

import "os"

// errNotExist makes crewjam answer an unknown SP as such.
var errNotExist = os.ErrNotExist
