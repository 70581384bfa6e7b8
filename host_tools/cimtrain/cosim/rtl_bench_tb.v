// What Icarus alone costs per access and per command of cim_macro: a Verilog-only bench
// (no cocotb, no Python, no model), run by rtl_bench.py.  Simulation only.
//
// A plain AXI4-Lite master, one access at a time, plays N repetitions of the case CASE
// (defines: CASE, N, and for VMM cases ROWS_N, COLS_N); rtl_bench.py times the same
// build with N = 0 and N > 0 and divides the difference of CPU time by N.
//   CASE 1  register write (SEED, new data each time)
//   CASE 2  INBUF word write (words 0..63 in turn)
//   CASE 3  an idle clock cycle
//   CASE 4  VMM_FWD on a ROWS_N x COLS_N window: INBUF words, CMD, wait, OUTBUF
//   CASE 5  VMM_TRANS, the same
//   CASE 6  READ_ROW of 64 columns and the 64 READBUF reads
//   CASE 7  PULSE: SET of 4 pulses on 44 columns (a row of write-verify at init),
//           its row, masks and CMD written, wait
// Ports of cim_macro only, so the bench runs on any revision of rtl/ (--baseline).
`timescale 1ns / 1ps
`include "cim_reg_pkg.svh"
`ifndef ROWS_N
`define ROWS_N 40
`define COLS_N 12
`endif
module rtl_bench_tb import cim_reg_pkg::*; ();
  reg clk = 1'b0, rst_n = 1'b0;
  reg [CIM_ADDR_WIDTH-1:0] awaddr = '0, araddr = '0;
  reg awvalid = 1'b0, wvalid = 1'b0, arvalid = 1'b0;
  reg [31:0] wdata = '0;
  wire awready, wready, bvalid, arready, rvalid, irq;
  wire [1:0] bresp, rresp;
  wire [31:0] rdata;
  reg [31:0] got;
  integer i, k, words;

  cim_macro #(.NTiles(8), .Rows(256), .Cols(64)) u_macro (
    .clk_i(clk), .rst_ni(rst_n),
    .s_axil_awaddr(awaddr), .s_axil_awprot(3'd0), .s_axil_awvalid(awvalid),
    .s_axil_awready(awready), .s_axil_wdata(wdata), .s_axil_wstrb(4'hF),
    .s_axil_wvalid(wvalid), .s_axil_wready(wready), .s_axil_bresp(bresp),
    .s_axil_bvalid(bvalid), .s_axil_bready(1'b1), .s_axil_araddr(araddr),
    .s_axil_arprot(3'd0), .s_axil_arvalid(arvalid), .s_axil_arready(arready),
    .s_axil_rdata(rdata), .s_axil_rresp(rresp), .s_axil_rvalid(rvalid),
    .s_axil_rready(1'b1), .irq_o(irq));

  always #5 clk = ~clk;

  // one access: present on a falling edge, hand-shake on the next rising edge, response
  // one edge later (the slave's two edges per access)
  task automatic wr(input [CIM_ADDR_WIDTH-1:0] a, input [31:0] d);
    begin
      @(negedge clk);
      awaddr = a; wdata = d; awvalid = 1'b1; wvalid = 1'b1;
      @(negedge clk);
      awvalid = 1'b0; wvalid = 1'b0;
      if (bresp != 2'b00) $fatal(1, "write 0x%0h: response %0d", a, bresp);
    end
  endtask

  task automatic rd(input [CIM_ADDR_WIDTH-1:0] a, output [31:0] d);
    begin
      @(negedge clk);
      araddr = a; arvalid = 1'b1;
      @(negedge clk);
      arvalid = 1'b0;
      d = rdata;
      if (rresp != 2'b00) $fatal(1, "read 0x%0h: response %0d", a, rresp);
    end
  endtask

  // as the RTL server waits: idle cycles to the command's end, then one STATUS read (the
  // server knows the end from its model; here the bench peeks at the busy flag)
  task automatic wait_idle;
    begin
      @(negedge clk);
      while (u_macro.u_regfile.busy_q) @(negedge clk);
      rd(ADDR_STATUS, got);
      if (got[STATUS_BUSY_LSB]) $fatal(1, "STATUS.BUSY after the command's end");
    end
  endtask

  initial begin
    #12 rst_n = 1'b1;
    wr(ADDR_ROW_COUNT, `ROWS_N);
    wr(ADDR_COL_COUNT, `COLS_N);
    words = ((`CASE == 5 ? `COLS_N : `ROWS_N) + 3) / 4;
    if (`CASE == 7) begin
      wr(ADDR_PULSE_COUNT, 4);
      wr(ADDR_PULSE_WIDTH, 1);
      wr(ADDR_PULSE_SET_AMP, 1800);
    end
    for (i = 0; i < `N; i = i + 1) begin
      case (`CASE)
        1: wr(ADDR_SEED, i);
        2: wr(ADDR_INBUF + 4 * (i % 64), 32'h0101_0101 * i);
        3: @(negedge clk);
        4, 5: begin
          for (k = 0; k < words; k = k + 1) wr(ADDR_INBUF + 4 * k, 32'h0403_0201 * (i + k + 1));
          wr(ADDR_CMD, `CASE == 5 ? OP_VMM_TRANS : OP_VMM_FWD);
          wait_idle();
          for (k = 0; k < ((`CASE == 5 ? `ROWS_N : `COLS_N) + 3) / 4; k = k + 1)
            rd(ADDR_OUTBUF + 4 * k, got);
        end
        7: begin
          wr(ADDR_PULSE_ROW, i % 256);
          wr(ADDR_PULSE_SET_MASK_LO, 32'hFFFF_FFFF);
          wr(ADDR_PULSE_SET_MASK_HI, 32'h0000_0FFF);
          wr(ADDR_CMD, OP_PULSE);
          wait_idle();
          wr(ADDR_PULSE_SET_MASK_LO, 32'h0);  // masks change every repetition, as in use
          wr(ADDR_PULSE_SET_MASK_HI, 32'h0);
        end
        default: begin
          wr(ADDR_ROW_START, i % 256);
          wr(ADDR_CMD, OP_READ_ROW);
          wait_idle();
          for (k = 0; k < 64; k = k + 1) rd(ADDR_READBUF + 4 * k, got);
        end
      endcase
    end
    $finish;
  end
endmodule
