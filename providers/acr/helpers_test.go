package acr

import (
	"log/slog"
	"strconv"
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func jsonInt(n int64) string { return strconv.FormatInt(n, 10) }
