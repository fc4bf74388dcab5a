//go:build !unix

package main

import "os"

// tryLock: the central service runs on Linux; elsewhere the data folder is
// not locked.
func tryLock(*os.File) (bool, error) { return true, nil }

func unlock(*os.File) error { return nil }

// processAlive: elsewhere a restore's pid is taken to be running.
func processAlive(int) bool { return true }
