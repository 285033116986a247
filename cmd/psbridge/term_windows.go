package main

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/windows"
)

// termSize returns the size of the console window psbridge writes to, or 0, 0 when it does
// not write to a console.
func termSize(*os.File) (cols, rows int) {
	var info windows.ConsoleScreenBufferInfo
	if err := windows.GetConsoleScreenBufferInfo(windows.Handle(os.Stdout.Fd()), &info); err != nil {
		return 0, 0
	}
	cols = int(info.Window.Right-info.Window.Left) + 1
	rows = int(info.Window.Bottom-info.Window.Top) + 1
	if cols <= 0 || rows <= 0 {
		return 0, 0
	}
	return cols, rows
}

// makeRaw switches the console to what a remote terminal needs: input as VT sequences without
// line editing, echo or Ctrl-C processing, and output that interprets VT sequences. It
// returns the function that restores both modes. Not a console: nothing to do.
func makeRaw(f *os.File) (func(), error) {
	in := windows.Handle(f.Fd())
	out := windows.Handle(os.Stdout.Fd())
	var inMode, outMode uint32
	if err := windows.GetConsoleMode(in, &inMode); err != nil {
		return func() {}, nil
	}
	raw := inMode&^(windows.ENABLE_ECHO_INPUT|windows.ENABLE_LINE_INPUT|windows.ENABLE_PROCESSED_INPUT) | windows.ENABLE_VIRTUAL_TERMINAL_INPUT
	if err := windows.SetConsoleMode(in, raw); err != nil {
		return nil, fmt.Errorf("console: raw console mode: %w", err)
	}
	restoreOut := func() {}
	if windows.GetConsoleMode(out, &outMode) == nil {
		if windows.SetConsoleMode(out, outMode|windows.ENABLE_VIRTUAL_TERMINAL_PROCESSING|windows.DISABLE_NEWLINE_AUTO_RETURN) == nil {
			restoreOut = func() { _ = windows.SetConsoleMode(out, outMode) }
		}
	}
	return func() {
		_ = windows.SetConsoleMode(in, inMode)
		restoreOut()
	}, nil
}

// watchResize polls the console size (Windows sends no SIGWINCH) and sends changes on resize
// until the returned function is called.
func watchResize(in *os.File, resize chan [2]int) (stop func()) {
	done := make(chan struct{})
	go func() {
		lastC, lastR := termSize(in)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				c, r := termSize(in)
				if c > 0 && (c != lastC || r != lastR) {
					lastC, lastR = c, r
					select {
					case resize <- [2]int{c, r}:
					default:
					}
				}
			case <-done:
				return
			}
		}
	}()
	return func() { close(done) }
}
